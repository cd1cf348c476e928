"""Normalise what a caller said into a search query. Pure functions: no ORM, no settings.

Speech-to-text hands us lowercase, unpunctuated turns full of hesitations and politeness
("um so like are you guys open saturdays"). Those words carry no meaning for retrieval,
but they hurt it: the lexical leg ORs every term together, so "like" or "wondering" pull
in chunks that happen to contain them, and the embedding drifts towards "chit-chat".

What is done here was decided by measurement on the caller-style dev set
(``benchmarks/caller_devset.json``, see ``benchmarks/bench_quality.py``):

* lowercase and Unicode-normalise (curly apostrophes from some STT engines);
* restore apostrophes in contractions STT engines drop ("dont" → "don't", "im" → "i'm");
* drop leading politeness/hedging phrases and filler words ("um", "uh", "you know",
  "i was wondering", "can you tell me"…), never a word that can carry the question's
  meaning on its own (e.g. "like" only as a filler between words, not "would like to");
* collapse whitespace. If stripping would leave nothing, the original words are kept.

Synonym expansion was measured too and is not applied by default (see the benchmark note).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "FILLER_WORDS", "FILLER_PHRASES"]

# Said between words and meaningless in any position.
FILLER_WORDS = frozenset({
    "um", "umm", "uhm", "uh", "uhh", "er", "erm", "ah", "ahh", "eh", "hmm", "hm", "mm", "mhm",
    "oh", "okay", "ok", "alright", "yeah", "yep", "yes", "hi", "hello", "hey", "basically",
    "actually", "literally", "honestly", "anyway", "anyways", "please", "thanks", "thank",
    "really", "just", "guys", "folks", "ya", "yall", "y'all",
})

# Multi-word hedges, removed wherever they occur (longest first).
FILLER_PHRASES = (
    "i was just wondering if", "i was just wondering", "i was wondering if", "i was wondering whether",
    "i was wondering", "i am wondering", "i'm wondering", "just wondering",
    "i wanted to ask", "i want to ask", "i wanted to know", "i want to know", "i'd like to know",
    "i would like to know", "i need to know",
    "could you tell me", "can you tell me", "could you let me know", "can you let me know",
    "do you know", "you know what", "you know", "i mean", "i guess", "i think", "let me see",
    "kind of", "sort of", "or something", "or whatever", "and stuff", "and everything",
    "thank you", "good morning", "good afternoon", "good evening", "quick question",
    "real quick", "by the way",
)

# Words that are fillers at the start of a turn ("so are you open", "well i need…") but
# may carry meaning elsewhere ("open so late", "as well").
LEADING_FILLERS = frozenset({"so", "well", "like", "and", "but", "now", "right", "also"})

# STT engines often drop the apostrophe; restoring it lets stop-word lists and the
# embedding model see the usual form.
CONTRACTIONS = {
    "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "cant": "can't", "couldnt": "couldn't",
    "wont": "won't", "wouldnt": "wouldn't", "shouldnt": "shouldn't", "isnt": "isn't", "arent": "aren't",
    "wasnt": "wasn't", "werent": "weren't", "havent": "haven't", "hasnt": "hasn't", "hadnt": "hadn't",
    "im": "i'm", "ive": "i've", "youre": "you're", "youve": "you've", "theyre": "they're",
    "whats": "what's", "wheres": "where's", "whens": "when's", "hows": "how's", "thats": "that's",
    "theres": "there's", "lets": "let's", "itll": "it'll", "youll": "you'll", "id": "i'd",
}

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_TOKEN = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")
_PHRASES = [tuple(p.split()) for p in sorted(FILLER_PHRASES, key=lambda p: -len(p.split()))]


def tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    return _TOKEN.findall(text)


def _strip_phrases(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        for phrase in _PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _strip_fillers(words: list[str]) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(words):
        if word in FILLER_WORDS:
            continue
        if word == "like":
            # "like" is a filler unless it follows "would/'d/i/we/you" ("i'd like to book",
            # "what would you like") or means "such as" before "a/an/the".
            prev = words[i - 1] if i else ""
            if prev not in ("would", "i'd", "we'd", "you'd", "i", "we", "you", "they", "look", "looks"):
                continue
        out.append(word)
    while out and out[0] in LEADING_FILLERS:
        out.pop(0)
    return out


def normalize(text: str) -> str:
    """The query as searched: lowercase, contractions restored, fillers and hedges removed."""
    words = [CONTRACTIONS.get(w, w) for w in tokens(text) if w not in {",", ".", "?", "!", ";", ":"}]
    if not words:
        return ""
    cleaned = _strip_fillers(_strip_phrases(words))
    if not cleaned:
        cleaned = words
    return _SPACE.sub(" ", " ".join(cleaned)).strip()
