#!/usr/bin/env python3
"""Independent reference for ghx's CLIP tokenizer (src/models/tokenizer.cpp).

Written from the published algorithm (OpenAI CLIP's simple_tokenizer: html.unescape twice,
whitespace collapse, strip, lower, the split regex with re.IGNORECASE, GPT-2's byte-to-unicode
table, rank-ordered BPE with "</w>" on the last symbol, SOT + tokens + EOT in a 77-id context,
EOT forced last when truncating, zero padding) with Python's own `html`, `regex`, `gzip` and
`unicodedata`; it shares no code with the C++. ftfy is not installed here, so its
character-level fixes that ghx also does (fix_latin_ligatures, fix_character_width,
uncurl_quotes, remove_control_chars, NFC), are rewritten below from ftfy's documentation.

Reads tests/data/tokenizer/tiny_bpe.txt.gz (written once by ghx::models::write_tiny_bpe_vocab)
and writes, beside it:
  expected.json        ids for a list of hard strings (text stored as UTF-8 hex: some cases are
                       deliberately invalid UTF-8)
  hf/vocab.json        the same vocabulary in Hugging Face's layout, with
  hf/merges.txt        its merges ("#version: 0.2" first line)

Usage: /usr/bin/python3 tests/models/clip_tokenizer_ref.py [DATA_DIR]
"""
import gzip
import html
import json
import os
import sys
import unicodedata

import regex

CONTEXT = 77
MAX_MERGES = 49152 - 256 - 2  # OpenAI's slice merges[1:48895]
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
SPLIT = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


# --- byte-level alphabet ------------------------------------------------------------------------
def byte_alphabet():
    """GPT-2: printable Latin-1 bytes stand for themselves; the 68 others get U+0100 onwards, in
    byte order. Returns ({byte: char}, bytes in vocabulary order)."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    chars = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in chars]
    for n, b in enumerate(others):
        chars[b] = chr(0x100 + n)
    return chars, printable + others


# --- ftfy's character-level fixes, rewritten --------------------------------------------------
LIGATURES = {
    0x0132: "IJ", 0x0133: "ij", 0x0149: "\u02bcn", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
    0x01C4: "D\u017d", 0x01C5: "D\u017e", 0x01C6: "d\u017e", 0x01C7: "LJ", 0x01C8: "Lj",
    0x01C9: "lj", 0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj", 0xFB00: "ff", 0xFB01: "fi",
    0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u017ft", 0xFB06: "st",
}
WIDTH = {0x3000: " "}
for _cp in range(0xFF01, 0xFFF0):
    _alt = unicodedata.normalize("NFKC", chr(_cp))
    if _alt != chr(_cp):
        WIDTH[_cp] = _alt
QUOTES = {cp: "'" for cp in [0x02BC, 0x2018, 0x2019, 0x201A, 0x201B]}
QUOTES.update({cp: '"' for cp in range(0x201C, 0x2020)})
CONTROLS = {cp: None for cp in list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F]
            + list(range(0x206A, 0x2070)) + [0xFEFF] + list(range(0xFFF9, 0xFFFD))}


def ftfy_characters(text):
    for table in (LIGATURES, WIDTH, QUOTES, CONTROLS):
        text = text.translate(table)
    return unicodedata.normalize("NFC", text)


def clean(text):
    text = html.unescape(html.unescape(ftfy_characters(text))).strip()
    text = regex.sub(r"\s+", " ", text).strip()
    return text.lower()


# --- the vocabulary and BPE ---------------------------------------------------------------------
class Reference:
    def __init__(self, path):
        with gzip.open(path) as f:
            lines = f.read().decode("utf-8").split("\n")
        self.merges = [tuple(line.split()) for line in lines[1:MAX_MERGES + 1]]
        chars, order = byte_alphabet()
        self.byte_char = chars
        vocab = [chars[b] for b in order]
        vocab += [c + "</w>" for c in vocab]
        vocab += ["".join(m) for m in self.merges]
        vocab += [SOT, EOT]
        self.vocab = vocab
        self.ids = {tok: i for i, tok in enumerate(vocab)}
        self.rank = {m: r for r, m in enumerate(self.merges)}

    def bpe(self, word):
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            ranked = [(self.rank[p], p) for p in zip(symbols, symbols[1:]) if p in self.rank]
            if not ranked:
                break
            _, (a, b) = min(ranked)
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

    def tokens(self, text):
        out = []
        for piece in SPLIT.findall(clean(text)):
            if piece in (SOT, EOT):
                out.append(self.ids[piece])
                continue
            word = "".join(self.byte_char[b] for b in piece.encode("utf-8"))
            out.extend(self.ids[s] for s in self.bpe(word))
        return out

    def encode(self, text):
        ids = [self.ids[SOT]] + self.tokens(text) + [self.ids[EOT]]
        truncated = len(ids) > CONTEXT
        if truncated:
            ids = ids[:CONTEXT]
            ids[-1] = self.ids[EOT]
        ids += [0] * (CONTEXT - len(ids))
        return ids, max(range(CONTEXT), key=lambda i: (ids[i], -i)), truncated


# --- hard strings -------------------------------------------------------------------------------
PROMPT_100 = (
    "masterpiece, best quality, a highly detailed portrait of an old fisherman with a grey beard "
    "and deep wrinkles, wearing a yellow raincoat, standing on a wooden pier at dawn, soft golden "
    "light, fog over the calm sea, seagulls in the distance, small boats tied to the posts, "
    "cinematic composition, shallow depth of field, sharp focus on the eyes, film grain, muted "
    "colors, photographed with an 85mm lens, award winning photo, trending on artstation, ultra "
    "realistic skin texture, subtle reflections on the wet planks, a lighthouse on the cliff "
    "behind him, dramatic clouds, peaceful mood, (masterpiece:1.2), <lora:film_grain:0.6>"
)


def cases(ref):
    c = [
        ("empty", ""),
        ("spaces_only", "   \t\n  "),
        ("amp_twice", "&amp;amp;"),
        ("amp_three_times", "&amp;amp;amp; fish &amp;amp; chips"),
        ("tags", "&lt;b&gt;bold&lt;/b&gt; and &quot;quoted&quot; &apos;x&apos;"),
        ("named_latin1", "caf&eacute; &copy; 2024 &nbsp;&nbsp;a&nbsp;b &frac12; &times; &Uuml;ber"),
        ("legacy_no_semicolon", "&ampfoo &copy2023 &eacute! &notin; &notit; &LT;x&GT; &lt"),
        ("numeric_entities", "&#39;s &#x27;t &#128;&#150; &#0;x&#1;y&#x110000;z&#xD800; &#65&#x42;C"),
        ("unknown_entities", "&bogus; & &; &# &#x; a&b"),
        ("accents", "Crème Brûlée, ÉCOLE, naïve façade, Ångström"),
        ("decomposed_accents", "Cre\u0300me Bru\u0302le\u0301e"),
        ("emoji", "a cat \U0001F63A with \U0001F389 and \U0001F44D\U0001F3FD \u2764\ufe0f \U0001F1EF\U0001F1F5"),
        ("cjk", "一只可爱的猫在桌子上睡觉，窗外下着雨。猫と犬 고양이"),
        ("numbers", "3.14 and 1080p, 2024-01-31, 4k 8K uhd, 1,000,000 ½ ٣"),
        ("lora_syntax", "a photo <lora:x:0.8> <lora:Moxin_10:0.65> <lyco:abc>"),
        ("weights_syntax", "(masterpiece:1.2), [[a cat]], {dog}, ((flower:1.3)), (blue eyes)"),
        ("newlines_tabs", "line one\nline two\t\ttab  spaces  \r\n\r\n last"),
        ("contractions", "it's don't I'm we'll they've you're he'd IT'S O'REILLY"),
        ("long_s_contraction", "it'\u017f x'\u017ft"),
        ("curly_quotes", "it\u2019s a \u201ctest\u201d \u2018quoted\u2019"),
        ("fullwidth", "ＬＯＵＤ　ＮＯＩＳＥＳ，ｏｋ！ １２３ ｶﾀｶﾅ"),
        ("ligatures", "\ufb02u\ufb03est \ufb06op \ufb05"),
        ("special_tokens", "a <|endoftext|> b <|startoftext|>c(<|endoftext|>)"),
        ("greek_sigma", "ΟΔΟΣ ΣΑΣ Σ"),
        ("turkish_dotted_i", "İSTANBUL ıi"),
        ("german_sharp_s", "STRAẞE straße"),
        ("ypogegrammeni", "\u1fb3 \u0345x !\u0345!"),
        ("controls", "a\x00b\x07c\x1cd \x1f e\x7f f\u200bg\ufeffh\x85i"),
        ("unicode_spaces", "a\u00a0b\u3000c\u2003d\u2028e\u202ff \x0bg"),
        ("punctuation_runs", "Hello, World!!! ... ??? -- '' \"\" --> <-- :) ^_^"),
        ("repeated_words", "the cat and the dog and the cat and the dog " * 3),
        ("prompt_100_words", PROMPT_100),
    ]
    out = [(name, text.encode("utf-8")) for name, text in c]
    out.append(("invalid_utf8", b"abc\xff\xc3(\xed\xa0\x80z\xf0\x9f\x98 end\xe2\x82"))
    out.append(("lone_continuation", b"\x80\x80x\xc0\xafy\xf4\x90\x80\x80z"))
    # Exactly full (75 tokens) and one over (76): "cat" is a single token in the tiny vocab.
    for name, n in (("exactly_full", CONTEXT - 2), ("one_over", CONTEXT - 1)):
        text = " ".join(["cat"] * n)
        assert len(ref.tokens(text)) == n, "cat must be one token"
        out.append((name, text.encode("utf-8")))
    return out


def write_compact_json(path, obj, list_key):
    """JSON with one line per element of obj[list_key] (readable diffs)."""
    head = {k: v for k, v in obj.items() if k != list_key}
    lines = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    items = [" " + json.dumps(x, ensure_ascii=False) for x in obj[list_key]]
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n" + "\n".join(lines) + f"\n {json.dumps(list_key)}: [\n" + ",\n".join(items) + "\n ]\n}\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "tokenizer")
    ref = Reference(os.path.join(data, "tiny_bpe.txt.gz"))
    result = {
        "vocab": "tiny_bpe.txt.gz",
        "merges": len(ref.merges),
        "vocab_size": len(ref.vocab),
        "sot": ref.ids[SOT],
        "eot": ref.ids[EOT],
        "context": CONTEXT,
        "cases": [],
    }
    for name, raw in cases(ref):
        text = raw.decode("utf-8", errors="replace")
        ids, eot_index, truncated = ref.encode(text)
        result["cases"].append({
            "name": name,
            "text_hex": raw.hex(),
            "clean": clean(text),
            "tokens": ref.tokens(text),
            "ids": ids,
            "eot_index": eot_index,
            "truncated": truncated,
        })
    write_compact_json(os.path.join(data, "expected.json"), result, "cases")
    # Hugging Face layout of the same vocabulary.
    os.makedirs(os.path.join(data, "hf"), exist_ok=True)
    with open(os.path.join(data, "hf", "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(ref.ids, f, ensure_ascii=False)
    with open(os.path.join(data, "hf", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in ref.merges))
    print(f"{len(result['cases'])} cases, {len(ref.merges)} merges, vocab {len(ref.vocab)}")


if __name__ == "__main__":
    main()
