"""Turn a saved blog post (HTML or plain text) into a review: body without boilerplate, author, language."""

import html
import re

import justext
import trafilatura

from service.core.tagging import detect_language

STOPLISTS = {"de": "German", "en": "English"}
# Where a saved blog page's comment area starts: everything after it is not the review.
COMMENT_AREA = re.compile(
    r"^(\d+\s+(thoughts?|comments?|responses?|replies)\s+(on|to)\b"
    r"|leave a (reply|comment)|post a comment|comments are closed"
    r"|\d+\s+(gedanken|kommentare?|antworten)\s+(zu|auf)\b"
    r"|(schreibe|hinterlasse|verfasse) einen kommentar|kommentar (verfassen|schreiben|hinterlassen)"
    r"|antwort hinterlassen)",
    re.IGNORECASE,
)
TITLE_IN_MARKER = re.compile(r"\b(?:on|to|zu|auf)\s+[“\"„»](.+?)[”\"“«]?\s*$")
SIGNATURE = re.compile(r"(?:^|\s)[-–—~]\s?([A-Za-z0-9_.]{2,40})\s*$")
HTML_HINT = re.compile(r"<(html|body|article|div|p|br)\b", re.IGNORECASE)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]


def _keep_prose(paragraphs: list[str], language: str) -> list[str]:
    """Drop captions, widgets and link lists: keep what justext sees as prose."""
    stoplist = justext.get_stoplist(STOPLISTS[language])
    doc = (
        "<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) + "</body></html>"
    )
    kept = []
    for par in justext.justext(doc, stoplist):
        if par.cf_class in ("good", "neargood") or (
            par.cf_class == "short" and par.stopwords_density(stoplist) >= 0.2
        ):
            kept.append(par.text)
    return kept


def extract_from_text(text: str) -> dict:
    """Return the review in a plain-text save of a blog post."""
    paragraphs, title = _paragraphs(text), None
    for i, par in enumerate(paragraphs):
        if COMMENT_AREA.match(par):
            found = TITLE_IN_MARKER.search(par)  # "2 thoughts on “Title”" names the post
            title = " ".join(found.group(1).split()) if found else None
            paragraphs = paragraphs[:i]
            break
    language = detect_language(" ".join(paragraphs))
    kept = _keep_prose(paragraphs, language)
    return {"body": "\n\n".join(kept), "language": language, "title": title, "author": None}


def extract_from_html(page: str) -> dict:
    """Return the review in a saved HTML page (trafilatura drops navigation and comments)."""
    doc = trafilatura.bare_extraction(page, include_comments=False, with_metadata=True)
    data = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
    body = (data.get("text") or "").strip()
    paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
    language = detect_language(body, data.get("language"))
    return {
        "body": "\n\n".join(paragraphs),
        "language": language,
        "title": data.get("title"),
        "author": data.get("author"),
    }


def extract_review(content: str, content_format: str = "auto") -> dict:
    """Return {"body", "language", "title", "author"} from a saved post; author from a sign-off."""
    is_html = content_format == "html" or (content_format == "auto" and HTML_HINT.search(content))
    review = extract_from_html(content) if is_html else extract_from_text(content)
    if not review["author"] and review["body"]:
        match = SIGNATURE.search(review["body"].rsplit("\n", 1)[-1])
        if match:
            review["author"] = match.group(1)
    return review
