from __future__ import annotations

import pytest

from sdk.models.embeddings import EmbeddingTable, package_model_dir
from sdk.models.tokenizer import WordPieceTokenizer, normalize, pre_tokenize

# Ids produced by the reference (HF tokenizers, the package's tokenizer.json), specials stripped.
GOLDEN = {
    "My password stopped working": [2026, 20786, 3030, 2551],
    "Héllo, WORLD!! can't $5.00": [7592, 1010, 2088, 999, 999, 2064, 1005, 1056, 1002, 1019, 1012, 4002],
    "Résumé naïve café": [13746, 15743, 7668],
    "东京 tokyo": [100, 1755, 5522],
    "unbelievably antidisestablishmentarianism": [
        4895,
        8671,
        2666,
        3567,
        6321,
        3424,
        10521,
        4355,
        7875,
        13602,
        3672,
        12199,
        2964,
    ],
    "where is my package?": [2073, 2003, 2026, 7427, 1029],
}


@pytest.fixture(scope="module")
def tok() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_file(package_model_dir() / "vocab.txt")


@pytest.mark.parametrize(("text", "ids"), GOLDEN.items())
def test_matches_reference_ids(tok: WordPieceTokenizer, text: str, ids: list[int]) -> None:
    assert tok.encode(text) == ids


def test_agrees_with_the_reference_tokenizer_on_varied_text(tok: WordPieceTokenizer) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    ref = tokenizers.Tokenizer.from_file(str(package_model_dir() / "tokenizer.json"))
    ref.no_padding()
    ref.no_truncation()
    docs = [
        "\x00ctrl\x07 char \ufffd tab\there",
        "Ελληνικά Кириллица عربى",
        "e-mail@foo.com ^_^ [x]",
        "a" * 150 + " ok",
        "“quotes” — dash",
        "ÀÉÎÕÜ ñ ç ß",
        "MiXeD CaSe 123abc",
    ]
    for doc in docs:
        assert tok.encode(doc) == ref.encode(doc).ids[1:-1], doc


def test_normalize_and_pre_tokenize() -> None:
    assert normalize("Café\tOK") == "cafe ok"
    assert pre_tokenize("can't stop!") == ["can", "'", "t", "stop", "!"]


def test_truncates_to_max_tokens(tok: WordPieceTokenizer) -> None:
    assert tok.encode("where is my package?", max_tokens=2) == [2073, 2003]


def test_overlong_and_unknown_words_become_unk(tok: WordPieceTokenizer) -> None:
    assert tok.encode("x" * 101) == [tok.unk_id]
    assert tok.encode("\u2603") == [tok.unk_id]  # a snowman: no piece of it is in the vocabulary


def test_word_memo_is_bounded() -> None:
    tok = WordPieceTokenizer({"[UNK]": 0, "a": 1, "b": 2}, memo_size=2)
    tok.encode("a b a b c")
    tok.encode("d e f")
    assert len(tok._memo) == 2


def test_table_tokenizer_is_the_package_vocab(table: EmbeddingTable) -> None:
    assert table.tokenizer.encode("My password stopped working") == GOLDEN["My password stopped working"]
    assert table.vectors.shape == (30522, 384)
