"""Split a text into sentences and cut short excerpts of them, for the evidence of a tag."""

import re

EXCERPT_CHARS = 160
_END = re.compile(r"[.!?…]+[\"'”“»«)]*\s+")
# words whose trailing period does not end a sentence ("Dr. Tae-o", "z. B.")
_ABBREVIATIONS = frozenset(
    {"dr", "prof", "mr", "mrs", "ms", "st", "jr", "sr", "vs", "nr", "no", "bzw", "ca", "usw"}
    | {"z", "b", "u", "a", "d", "h", "etc", "vgl", "inkl", "hl", "gen", "lt", "sgt", "capt"}
)


def split_sentences(text: str) -> list[str]:
    """Return the sentences of text, whitespace collapsed (abbreviations and initials kept in)."""
    sentences, start = [], 0
    for end in _END.finditer(text):
        before = text[start : end.start()].rsplit(None, 1)
        last = before[-1].lower() if before else ""
        following = text[end.end() : end.end() + 1]
        if end.group().startswith(".") and (
            last in _ABBREVIATIONS or len(last) == 1 or (last.isdigit() and len(last) <= 2)
        ):  # "Dr. Tae-o", "J. R. R. Tolkien", "im 18. Jahrhundert"
            continue
        if following and following.islower():
            continue
        sentences.append(" ".join(text[start : end.end()].split()))
        start = end.end()
    rest = " ".join(text[start:].split())
    return [s for s in sentences + [rest] if s]


def excerpt(sentence: str, word: str, size: int = EXCERPT_CHARS) -> str:
    """Return the sentence, or about size characters of it around word, cut at spaces with "…"."""
    if len(sentence) <= size:
        return sentence
    at = _find_word(sentence, word.split()[0]) if word.strip() else -1
    start = max(0, min(at - size // 3, len(sentence) - size)) if at >= 0 else 0
    end = start + size
    if start:
        start = sentence.find(" ", start) + 1 or start
    if end < len(sentence):
        end = sentence.rfind(" ", start, end) if sentence.rfind(" ", start, end) > start else end
    text = sentence[start:end].strip()
    return ("…" if start else "") + text + ("…" if end < len(sentence) else "")


def _find_word(sentence: str, word: str) -> int:
    """Return where word first stands alone in sentence (same case first), or -1."""
    for text, target in ((sentence, word), (sentence.lower(), word.lower())):
        at = text.find(target)
        while at >= 0:
            end = at + len(target)
            if (at == 0 or not text[at - 1].isalnum()) and (
                end == len(text) or not text[end].isalnum()
            ):
                return at
            at = text.find(target, at + 1)
    return -1
