"""Pure audio helpers: G.711 mu-law <-> 16-bit PCM, resampling, level and correlation.

PCM everywhere in tagih is mono, signed 16-bit, little-endian.
"""

from __future__ import annotations

import numpy as np
import soxr

_BIAS = 0x84


def _build_tables() -> tuple[np.ndarray, np.ndarray]:
    # decode: the ITU-T G.711 mu-law expansion for all 256 codes
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    decode = np.where(sign != 0, -magnitude, magnitude).astype(np.int16)
    # encode: every int16 value to its code (64 KiB table, built once), as ITU-T G.711 /
    # CPython's audioop do it: 14-bit magnitude, bias 33, segment search, invert.
    v = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 33
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), v)
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> (seg + 1)) & 0x0F))
    encode = ((uval ^ mask) & 0xFF).astype(np.uint8)
    return decode, encode


_DECODE, _ENCODE = _build_tables()


def ulaw_to_pcm(data: bytes) -> bytes:
    """Decode G.711 mu-law bytes to 16-bit little-endian PCM (2 bytes per input byte)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _DECODE[codes].astype("<i2").tobytes()


def pcm_to_ulaw(pcm: bytes) -> bytes:
    """Encode 16-bit little-endian PCM to G.711 mu-law (1 byte per sample)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int32)
    return _ENCODE[samples + 32768].tobytes()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample 16-bit PCM with soxr (high quality, deterministic)."""
    if src_rate == dst_rate or not pcm:
        return pcm
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    y = soxr.resample(x, src_rate, dst_rate, quality="HQ")
    return np.asarray(y, dtype="<i2").tobytes()


def rms(pcm: bytes) -> float:
    """Root-mean-square level of 16-bit PCM, as a fraction of full scale (0..1)."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if x.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(x * x)) / 32768.0)


def max_normalised_xcorr(a: bytes, b: bytes, max_lag: int) -> tuple[float, int]:
    """Peak normalised cross-correlation of `a` against `b` delayed by 0..max_lag samples.

    Returns (peak, lag): 1.0 means b holds a exactly, `lag` samples late. Only the overlapping
    part counts at each lag. FFT-based, so seconds of 8 kHz audio take milliseconds.
    """
    x = np.frombuffer(a[: len(a) // 2 * 2], dtype="<i2").astype(np.float64)
    y = np.frombuffer(b[: len(b) // 2 * 2], dtype="<i2").astype(np.float64)
    if x.size == 0 or y.size == 0:
        return 0.0, 0
    size = 1 << int(np.ceil(np.log2(x.size + y.size)))
    full = np.fft.irfft(np.conj(np.fft.rfft(x, size)) * np.fft.rfft(y, size), size)
    lags = np.arange(0, min(max_lag, y.size - 1) + 1)
    overlap = np.minimum(x.size, y.size - lags)
    ex = np.concatenate([[0.0], np.cumsum(x * x)])[overlap]
    cy = np.concatenate([[0.0], np.cumsum(y * y)])
    ey = cy[lags + overlap] - cy[lags]
    den = np.sqrt(ex * ey)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(den > 0, full[lags] / den, 0.0)
    best = int(np.argmax(corr))
    return float(corr[best]), int(lags[best])
