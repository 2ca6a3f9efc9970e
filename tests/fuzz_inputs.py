"""Mutators and generators of hostile MIDI and ABC inputs for the fuzz tests and bench/fuzz.py.

Every case is a pure function of (seed bytes, random.Random), so a failing case is reproducible.
"""

from __future__ import annotations

import random
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from composer.errors import ComposerError


def vlq(n: int) -> bytes:
    """MIDI variable-length quantity (up to 0x0FFFFFFF)."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(tracks: list[bytes], fmt: int = 1, division: int = 480, ntracks: int | None = None) -> bytes:
    """A MIDI file from raw track bodies; `ntracks` and `division` may lie."""
    head = b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks) if ntracks is None else ntracks, division)
    return head + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


EOT = b"\x00\xff\x2f\x00"


def hostile_midi(rng: random.Random) -> bytes:
    """One of the hand-made hostile MIDI constructs (huge deltas, absurd tempos, header lies, bombs)."""
    note = b"\x00\x90\x3c\x50" + vlq(240) + b"\x80\x3c\x00"
    kind = rng.randrange(10)
    if kind == 0:  # huge delta times
        return midi_file([b"\x00\x90\x3c\x50" + vlq(0x0FFFFFFF) + b"\x80\x3c\x00" + vlq(0x0FFFFFFF) + EOT])
    if kind == 1:  # absurd tempo: 0 µs/beat or 0xFFFFFF
        tempo = rng.choice([0, 1, 0xFFFFFF])
        return midi_file([b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big") + note + EOT])
    if kind == 2:  # track length fields that lie
        body = note + EOT
        length = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(body) + 100])
        return b"MThd" + struct.pack(">IHHH", 6, 1, 1, 480) + b"MTrk" + struct.pack(">I", length) + body
    if kind == 3:  # header lies: ntracks, division 0, SMPTE division, bad format, long header
        lie = rng.randrange(4)
        if lie == 0:
            return midi_file([note + EOT], ntracks=65535)
        if lie == 1:
            return midi_file([note + EOT], division=rng.choice([0, 0xE728, 0x8000]))
        if lie == 2:
            return midi_file([note + EOT], fmt=rng.choice([2, 3, 0xFFFF]))
        return b"MThd" + struct.pack(">I", 0xFFFF) + b"\x00\x01\x00\x01\x01\xe0" + b"MTrk" + struct.pack(">I", 12) + note
    if kind == 4:  # running status abuse: data bytes with no status, status changes mid-stream
        body = b"\x00\x3c\x50" + b"\x00\x90" + bytes(rng.randrange(128) for _ in range(rng.randrange(1, 200)))
        return midi_file([body + EOT])
    if kind == 5:  # MIDI bomb: one note pair repeated with running status and delta 0
        pair = b"\x00\x3c\x50\x00\x3c\x00"
        return midi_file([b"\x00\x90\x3c\x50\x00\x3c\x00" + pair * rng.choice([100_000, 300_000, 1_000_000]) + EOT])
    if kind == 6:  # the same track repeated many times
        return midi_file([note * 50 + EOT] * rng.choice([300, 1000, 5000]))
    if kind == 7:  # zero-length and giant tracks
        return midi_file([b"", note + EOT, b"\x00" * rng.randrange(1, 5000)])
    if kind == 8:  # random sysex / meta lengths
        return midi_file([b"\x00\xf0" + vlq(rng.choice([0, 5, 0x0FFFFFFF])) + b"\xf7" + note + EOT])
    return midi_file([bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))])


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Bit flips, truncation, duplicated or deleted chunks, inserted huge VLQs, of a real file."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if not buf:
            break
        i = rng.randrange(len(buf))
        if op == 0:
            for _ in range(rng.randint(1, 8)):
                j = rng.randrange(len(buf))
                buf[j] ^= 1 << rng.randrange(8)
        elif op == 1:
            del buf[rng.randrange(len(buf)) :]
        elif op == 2:
            j = min(len(buf), i + rng.randint(1, 64))
            buf[i:i] = buf[i:j] * rng.randint(1, 20)
        elif op == 3:
            del buf[i : i + rng.randint(1, 64)]
        elif op == 4:
            buf[i:i] = vlq(0x0FFFFFFF)
        else:
            buf[i] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0xF0, 0x90])
    return bytes(buf)


ABC_BREAKERS = [
    lambda t, r: "\n".join(x for x in t.splitlines() if not x.startswith("K:")),  # missing K:
    lambda t, r: t.replace("M:", "M:" + r.choice(["zz", "0/0", "9999999/1", "-3/4", "/"]) + "\nW:"),
    lambda t, r: t.replace("L:", "L:" + r.choice(["0", "1/0", "0/8", "x"]) + "\nY:"),
    lambda t, r: t + "\n" + r.choice(["[", "(3", "((((", "]", "{", "|:" * 40, ":|" * 40, "(9"]) * r.randint(1, 50),
    lambda t, r: t + "\n" + "ABcd " * r.randint(100, 400),  # a long line
    lambda t, r: t + "\n" + "".join(chr(r.randrange(0x20, 0x7F)) for _ in range(r.randint(1, 300))),
    lambda t, r: t[: r.randrange(len(t) + 1)],
    lambda t, r: t.replace("|", r.choice(["", "||", "|:", ":|", "[1", "::"])),
    lambda t, r: t + "\n" + r.choice(["A99999999", "A/99999999", "z1000000", "[K:Hb]", "Q:0", "Q:1/4=99999999"]),
]


def mutate_abc(tune: str, rng: random.Random) -> bytes:
    """A tune broken in its headers or body, sometimes also re-encoded or sprinkled with binary junk."""
    for _ in range(rng.randint(1, 3)):
        tune = rng.choice(ABC_BREAKERS)(tune, rng)
    enc = rng.randrange(6)
    if enc == 0:
        return tune.encode("latin-1", errors="replace")
    if enc == 1:
        return tune.encode("utf-16")
    if enc == 2:
        data = bytearray(tune.encode())
        for _ in range(rng.randint(1, 20)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return tune.encode()


@dataclass(frozen=True)
class Outcome:
    """What loading one case did: 'loaded', an error class name, or 'CRASH <type>'; and how long it took."""

    kind: str
    seconds: float
    message: str = ""


def run_case(data: bytes, suffix: str, folder: Path | None = None) -> Outcome:
    """Write `data` to a file with `suffix`, load it, and classify the outcome."""
    from composer.io import load

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / f"case{suffix}"
        path.write_bytes(data)
        t0 = time.perf_counter()
        try:
            load(path)
            kind, msg = "loaded", ""
        except ComposerError as e:
            kind, msg = type(e).__name__, str(e)
            assert str(path) in msg, msg
        except Exception as e:  # noqa: BLE001 - the fuzzer's whole point
            kind, msg = f"CRASH {type(e).__name__}", str(e)[:200]
        return Outcome(kind, time.perf_counter() - t0, msg)


def oneills_tunes(count: int) -> list[str]:
    """The first `count` tunes of O'Neill's 1850 as ABC text (music21's corpus)."""
    from music21 import corpus

    from composer.io.abc import split_tunes

    paths = sorted(str(p) for p in corpus.getPaths(fileExtensions=("abc",)) if "oneills1850" in str(p))
    tunes: list[str] = []
    for p in paths:
        tunes.extend(split_tunes(Path(p).read_text(encoding="latin-1")))
        if len(tunes) >= count:
            break
    return tunes[:count]


def midi_seeds(folder: Path, tunes: int = 10) -> list[bytes]:
    """O'Neill tunes and the Bach chorale bwv66.6 written as MIDI by composer.io.save_midi."""
    from music21 import corpus

    from composer.io import save_midi
    from composer.io.abc import parse_abc_text
    from composer.io.musicxml import stream_to_score

    scores = [s for t in oneills_tunes(tunes) for s in parse_abc_text(t)]
    scores.append(stream_to_score(corpus.parse("bach/bwv66.6"), "bwv66.6"))
    out = []
    for i, s in enumerate(scores):
        out.append(save_midi(s, folder / f"seed{i}.mid").read_bytes())
    return out


def make_case(family: str, i: int, midi: list[bytes], tunes: list[str], seed: int = 0) -> tuple[bytes, str]:
    """Case number `i` of a family: (bytes, suffix). Families: midi_mut, midi_hostile, abc_mut, abc_random."""
    rng = random.Random(f"{family}:{seed}:{i}")
    if family == "midi_mut":
        return mutate_bytes(rng.choice(midi), rng), ".mid"
    if family == "midi_hostile":
        return hostile_midi(rng), ".mid"
    if family == "abc_mut":
        return mutate_abc(rng.choice(tunes), rng), ".abc"
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000))), ".abc"
