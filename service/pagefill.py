"""Read a plain-text film page (title, Handlung, Kritiken, Empfehlungen) and write it back filled.

The layout is the seed's (`seeds/raw/love-911-film-page.de.txt`): a title line, then the
headings Handlung, Kritiken and Empfehlungen (or Plot, Reviews, Recommendations) on lines
of their own, in that order, each followed by its text. Pure functions: no Flask, no Redis.
"""

from dataclasses import dataclass

from service.labels import LABELS, format_rating, review_date, shown_reasons
from service.text import slugify

HEADINGS = {
    "de": ("Handlung", "Kritiken", "Empfehlungen"),
    "en": ("Plot", "Reviews", "Recommendations"),
}
SECTIONS = ("plot", "reviews", "recs")
MAX_CHARS = 200_000  # a whole page; the plot alone is limited like a film's synopsis
MAX_TITLE = 300
MAX_PLOT = 20_000

_HEADING_OF = {
    h.casefold(): (section, lang)
    for lang, names in HEADINGS.items()
    for section, h in zip(SECTIONS, names)
}


class PageFormatError(ValueError):
    """The text is not a film page in the layout; `errors` maps a part of it to what is wrong."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


@dataclass(frozen=True)
class FilmPage:
    title: str
    plot: str
    lang: str  # the language of the Handlung/Plot heading: the page's language
    head: str  # the page as written, up to and including the Kritiken/Reviews heading line
    recs_heading: str  # the Empfehlungen/Recommendations heading line as written


def heading_of(line: str) -> tuple[str, str] | None:
    """Return (section, language) if line is a section heading ("Kritiken", "Plot:"), else None."""
    return _HEADING_OF.get(line.strip().rstrip(":").strip().casefold())


def title_key(title: str) -> str:
    """Return the key titles are matched on: case, accents, spacing and punctuation ignored."""
    return slugify(title)


def parse_page(text: str) -> FilmPage:
    """Split a plain-text film page into its parts; raise PageFormatError if it is not one."""
    if len(text) > MAX_CHARS:
        raise PageFormatError(f"The page is longer than {MAX_CHARS} characters.")
    if "\x00" in text:
        raise PageFormatError("The page may not contain NUL characters.")
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise PageFormatError("The page is empty.", {"title": ["Missing the title line."]})
    title = lines[first].strip()
    if heading_of(title):
        raise PageFormatError(
            "The page starts with a heading, not with the film's title.",
            {"title": ["Missing the title line."]},
        )
    found: dict[str, tuple[int, str]] = {}
    for i in range(first + 1, len(lines)):
        hit = heading_of(lines[i])
        if hit is None:
            continue
        section, lang = hit
        wanted = SECTIONS[len(found)] if len(found) < len(SECTIONS) else None
        if section == wanted:
            found[section] = (i, lang)
    missing = [s for s in SECTIONS if s not in found]
    if missing:
        raise PageFormatError(
            "The page is not in the layout: title line, then the headings Handlung, Kritiken and "
            "Empfehlungen (or Plot, Reviews, Recommendations) on lines of their own, in that order.",
            {
                s: [
                    f"Missing the heading {HEADINGS['de'][i]} / {HEADINGS['en'][i]} (in its place)."
                ]
                for i, s in enumerate(SECTIONS)
                if s in missing
            },
        )
    plot_at, lang = found["plot"]
    reviews_at, recs_at = found["reviews"][0], found["recs"][0]
    plot = "\n".join(lines[plot_at + 1 : reviews_at]).strip()
    errors = {}
    if len(title) > MAX_TITLE:
        errors["title"] = [f"Longer than {MAX_TITLE} characters."]
    if len(plot) > MAX_PLOT:
        errors["plot"] = [f"Longer than {MAX_PLOT} characters."]
    if errors:
        raise PageFormatError("Some parts of the page are too long.", errors)
    return FilmPage(
        title=title,
        plot=plot,
        lang=lang,
        head="\n".join(lines[: reviews_at + 1]).rstrip("\n").rstrip() + "\n",
        recs_heading=lines[recs_at].strip(),
    )


def render_review(review: dict, lang: str) -> str:
    """Return one review as plain text: a line with title, author, rating and date, then the body."""
    t = LABELS[lang]
    quote = "„{}“" if lang == "de" else "“{}”"
    head = []
    if review.get("title"):
        head.append(quote.format(review["title"].strip()))
    head.append(f"{t['by']} {review['author'].strip()}" if review.get("author") else t["anonymous"])
    line = " ".join(head)
    rating = format_rating(review.get("rating"), lang)
    if rating is not None:
        line += f" · {rating}/10"
    date = review_date(review, lang)
    if date:  # the date alone when published (the layout's own), else said what it is
        line += f" · {date[1] if date[3] else date[2] + ' ' + date[1]}"
    return f"{line}\n{review.get('body', '').strip()}\n"


def render_related(item: dict, lang: str) -> str:
    """Return one related title as a line: title, year and the reasons behind it."""
    line = f"- {item['title']}"
    if item.get("year"):
        line += f" ({item['year']})"
    labels = [label for label, _ in shown_reasons(item.get("reasons") or [], lang)]
    if labels:
        line += " – " + ", ".join(labels)
    return line


def render_page(page: FilmPage, reviews: list[dict], related: list[dict], status: str) -> str:
    """Return the page as it was written up to Kritiken, then the reviews and the related titles.

    Text that stood under Kritiken and Empfehlungen is replaced; `status` is the list's
    (fresh, stale or pending) and adds a line saying it is being computed.
    """
    t = LABELS[page.lang]
    parts = [page.head]
    if reviews:
        parts.append("\n".join(render_review(r, page.lang) for r in reviews) + "\n")
    else:
        parts.append(t["no_reviews"] + "\n")
    parts.append(page.recs_heading + "\n")
    lines = [t[status]] if status in ("pending", "stale") else []
    lines += [render_related(item, page.lang) for item in related]
    if not related and status not in ("pending", "stale"):
        lines.append(t["no_recs"])
    parts.append("\n".join(lines) + "\n")
    return "".join(parts)
