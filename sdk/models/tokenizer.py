"""BERT WordPiece tokenization (uncased), in plain Python over a `vocab.txt`.

It reproduces the `BertNormalizer` + `BertPreTokenizer` + `WordPiece` pipeline of the
shipped all-MiniLM-L6-v2 tokenizer (lowercase, accents stripped, CJK characters and
punctuation split off, greedy longest-match sub-words with a ``##`` prefix) without
pulling a tokenizer library into the inference container. Words are memoised, so a
warm document costs a dictionary lookup per word.

Example::

    tok = WordPieceTokenizer.from_file(Path("vocab.txt"))
    tok.encode("My password stopped working")  # [2026, 20786, 3030, 2551]
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from pathlib import Path

UNK = "[UNK]"
MAX_WORD_CHARS = 100  # as the reference: longer words become [UNK] rather than cost O(n^2)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT treats every non-alphanumeric ASCII printable (e.g. "$", "^", "`") as punctuation.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )  # fmt: skip


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def normalize(text: str) -> str:
    """Clean, space out CJK characters, lowercase and strip accents (BertNormalizer)."""
    if text.isascii():
        # Fast path: only control characters and case matter for ASCII text.
        if not text.isprintable():
            text = "".join(" " if c in "\t\n\r" else c for c in text if c.isprintable() or c in "\t\n\r")
        return text.lower()
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    lowered = "".join(out).lower()
    return "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")


def pre_tokenize(text: str) -> list[str]:
    """Split normalized text on whitespace, then split punctuation into its own words."""
    words: list[str] = []
    for chunk in text.split():
        if chunk.isalnum():
            words.append(chunk)
            continue
        current: list[str] = []
        for ch in chunk:
            if _is_punctuation(ch):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
    return words


class WordPieceTokenizer:
    """Text -> vocabulary ids, no special tokens added (the models mean-pool words only)."""

    def __init__(self, vocab: dict[str, int], *, memo_size: int = 50_000) -> None:
        self.vocab = vocab
        self.unk_id = vocab[UNK]
        self._memo: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._memo_size = memo_size

    @classmethod
    def from_file(cls, path: Path, **options: int) -> WordPieceTokenizer:
        with path.open(encoding="utf-8") as f:
            vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        return cls(vocab, **options)

    def encode(self, text: str, *, max_tokens: int | None = None) -> list[int]:
        """Token ids of `text`, truncated to `max_tokens` when given."""
        ids: list[int] = []
        for word in pre_tokenize(normalize(text)):
            ids.extend(self._word_ids(word))
            if max_tokens is not None and len(ids) >= max_tokens:
                return ids[:max_tokens]
        return ids

    def _word_ids(self, word: str) -> tuple[int, ...]:
        hit = self._memo.get(word)
        if hit is not None:
            return hit
        ids = self._wordpiece(word)
        self._memo[word] = ids
        if len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)  # bounded: adversarial documents cannot grow it
        return ids

    def _wordpiece(self, word: str) -> tuple[int, ...]:
        if len(word) > MAX_WORD_CHARS:
            return (self.unk_id,)
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found: int | None = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self.unk_id,)  # one unknown piece makes the whole word unknown
            pieces.append(found)
            start = end
        return tuple(pieces)
