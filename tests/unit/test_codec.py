"""G.711 mu-law and the audio helpers, against ITU-T reference points."""

import numpy as np
import pytest

from agent.media.codec import max_normalised_xcorr, pcm_to_ulaw, resample, rms, ulaw_to_pcm


def _pcm(values: list[int]) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


@pytest.mark.parametrize(
    ("sample", "code"),
    # values of Sun's reference g711.c (what CPython's audioop.lin2ulaw also gives)
    [(0, 0xFF), (-1, 0x7E), (1, 0xFF), (32767, 0x80), (-32768, 0x00), (1000, 0xCE),
     (-1000, 0x4E), (8159, 0x9F), (-8159, 0x1F), (8000, 0xA0), (-8000, 0x20)],
)
def test_ulaw_encodes_reference_points(sample: int, code: int) -> None:
    assert pcm_to_ulaw(_pcm([sample])) == bytes([code])


@pytest.mark.parametrize(("code", "sample"), [(0xFF, 0), (0x7F, 0), (0x80, 32124),
                                              (0x00, -32124), (0xCE, 988), (0x4E, -988)])
def test_ulaw_decodes_reference_points(code: int, sample: int) -> None:
    assert ulaw_to_pcm(bytes([code])) == _pcm([sample])


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    back = pcm_to_ulaw(ulaw_to_pcm(codes))
    # 0x7F (-0) decodes to 0, which encodes as 0xFF (+0): the only ambiguous code
    assert [c for c, b in zip(codes, back, strict=True) if c != b] == [0x7F]


def test_round_trip_error_is_within_g711_step() -> None:
    x = np.linspace(-30000, 30000, 4001).astype("<i2")
    y = np.frombuffer(ulaw_to_pcm(pcm_to_ulaw(x.tobytes())), dtype="<i2")
    err = np.abs(x.astype(int) - y.astype(int))
    assert np.all(err <= np.maximum(8, np.abs(x.astype(int)) // 16))


def test_resample_length_and_tone() -> None:
    t = np.arange(22050) / 22050
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype("<i2").tobytes()
    out = np.frombuffer(resample(tone, 22050, 8000), dtype="<i2")
    assert len(out) == 8000
    spectrum = np.abs(np.fft.rfft(out.astype(float)))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 Hz bins over one second


def test_rms_of_silence_and_full_scale() -> None:
    assert rms(bytes(320)) == 0.0
    assert rms(_pcm([32767, -32767] * 80)) == pytest.approx(1.0, abs=1e-4)


def test_xcorr_finds_delay_and_rejects_noise() -> None:
    rng = np.random.default_rng(1)
    sig = (rng.standard_normal(4000) * 3000).astype("<i2")
    delayed = np.concatenate([np.zeros(123, "<i2"), sig])
    peak, lag = max_normalised_xcorr(sig.tobytes(), delayed.tobytes(), max_lag=400)
    assert lag == 123 and peak > 0.999
    other = (rng.standard_normal(4200) * 3000).astype("<i2")
    peak_noise, _ = max_normalised_xcorr(sig.tobytes(), other.tobytes(), max_lag=400)
    assert peak_noise < 0.2
