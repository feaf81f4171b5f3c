"""Bahasa Indonesia NLU: intents and slots, formal, everyday and code-switched speech."""

from __future__ import annotations

from datetime import date

import pytest

from agent.nlu import INTENTS, NluContext, understand

TODAY = date(2026, 12, 10)  # a Thursday
CTX = NluContext(today=TODAY, amount_due=1_250_000, payday=25)
D = date

CASES = [
    # text, intent, amount, date, time
    ("iya", "affirm", None, None, None),
    ("ya betul, saya sendiri", "affirm", None, None, None),
    ("iya benar", "affirm", None, None, None),
    ("oke deh", "affirm", None, None, None),
    ("boleh", "affirm", None, None, None),
    ("siap, setuju", "affirm", None, None, None),
    ("bener", "affirm", None, None, None),
    ("tidak", "deny", None, None, None),
    ("nggak", "deny", None, None, None),
    ("enggak bisa", "deny", None, None, None),
    ("gak bisa bayar", "deny", None, None, None),
    ("bukan, saya istrinya", "deny", None, None, None),
    ("ga mau", "deny", None, None, None),
    ("saya bayar besok", "promise_full", None, D(2026, 12, 11), None),
    ("oke aku transfer besok ya", "promise_full", None, D(2026, 12, 11), None),
    ("lusa saya lunasi", "promise_full", None, D(2026, 12, 12), None),
    ("bayar minggu depan", "promise_full", None, D(2026, 12, 17), None),
    ("akhir bulan aja", "promise_full", None, D(2026, 12, 31), None),
    ("abis gajian ya", "promise_full", None, D(2026, 12, 25), None),
    ("setelah gajian saya transfer", "promise_full", None, D(2026, 12, 25), None),
    ("tanggal 25 saya bayar", "promise_full", None, D(2026, 12, 25), None),
    ("tgl 5 bulan depan", "promise_full", None, D(2027, 1, 5), None),
    ("tanggal dua puluh", "promise_full", None, D(2026, 12, 20), None),
    ("saya bayar tanggal 20 desember", "promise_full", None, D(2026, 12, 20), None),
    ("hari jumat saya transfer", "promise_full", None, D(2026, 12, 11), None),
    ("senin depan", "promise_full", None, D(2026, 12, 14), None),
    ("3 hari lagi", "promise_full", None, D(2026, 12, 13), None),
    ("dalam dua minggu saya lunasi", "promise_full", None, D(2026, 12, 24), None),
    ("hari ini juga saya bayar", "promise_full", None, TODAY, None),
    ("nggak bisa besok, lusa aja", "promise_full", None, D(2026, 12, 12), None),
    ("bayar lunas", "promise_full", None, None, None),
    ("satu juta dua ratus lima puluh ribu besok", "promise_full", 1_250_000, D(2026, 12, 11),
     None),
    ("Rp 1.250.000 tanggal 15", "promise_full", 1_250_000, D(2026, 12, 15), None),
    ("sorry bisa bayar half dulu", "promise_partial", 625_000, None, None),
    ("setengah dulu ya", "promise_partial", 625_000, None, None),
    ("separuh aja bisa?", "promise_partial", 625_000, None, None),
    ("50 persen dulu", "promise_partial", 625_000, None, None),
    ("300rb dulu", "promise_partial", 300_000, None, None),
    ("300 ribu besok", "promise_partial", 300_000, D(2026, 12, 11), None),
    ("sejuta aja ya", "promise_partial", 1_000_000, None, None),
    ("1,5 juta", "promise_full", 1_500_000, None, None),
    ("bisa 1,5jt gak", "promise_full", 1_500_000, None, None),
    ("dua ratus ribu dulu", "promise_partial", 200_000, None, None),
    ("lima ratus rebu lusa", "promise_partial", 500_000, D(2026, 12, 12), None),
    ("setengah juta dulu", "promise_partial", 500_000, None, None),
    ("rp500.000 tgl 20", "promise_partial", 500_000, D(2026, 12, 20), None),
    ("700k minggu depan", "promise_partial", 700_000, D(2026, 12, 17), None),
    ("bisa dicicil gak?", "promise_partial", None, None, None),
    ("saya bayar sebagian dulu", "promise_partial", None, None, None),
    ("minta waktu seminggu lagi", "request_delay", None, D(2026, 12, 17), None),
    ("belum gajian pak", "request_delay", None, D(2026, 12, 25), None),
    ("bisa ditunda sampai akhir bulan?", "request_delay", None, D(2026, 12, 31), None),
    ("belum bisa bayar", "request_delay", None, None, None),
    ("udah bayar kemarin", "already_paid", None, D(2026, 12, 9), None),
    ("saya sudah transfer tadi pagi", "already_paid", None, None, "09:00"),
    ("udah lunas kok", "already_paid", None, None, None),
    ("salah sambung", "wrong_person", None, None, None),
    ("saya nggak kenal orang itu", "wrong_person", None, None, None),
    ("gak ada yang namanya budi di sini", "wrong_person", None, None, None),
    ("itu bukan utang saya", "dispute", None, None, None),
    ("saya gak pernah pinjam", "dispute", None, None, None),
    ("jumlahnya salah", "dispute", None, None, None),
    ("saya lagi gak punya uang, baru kena phk", "hardship", None, None, None),
    ("saya lagi sakit dirawat", "hardship", None, None, None),
    ("telpon lagi jam 7 malam", "callback_later", None, None, "19:00"),
    ("lagi nyetir, nanti aja", "callback_later", None, None, None),
    ("telepon besok jam 10 pagi", "callback_later", None, D(2026, 12, 11), "10:00"),
    ("hubungi lagi nanti sore", "callback_later", None, None, "16:00"),
    ("lagi sibuk, jam setengah delapan aja", "callback_later", None, None, "19:30"),
    ("telepon lagi jam 19.30", "callback_later", None, None, "19:30"),
    ("jangan telepon saya lagi", "opt_out", None, None, None),
    ("stop nelpon", "opt_out", None, None, None),
    ("apa?", "ask_repeat", None, None, None),
    ("maaf bisa diulang", "ask_repeat", None, None, None),
    ("gak kedengeran", "ask_repeat", None, None, None),
    ("saya mau bicara dengan petugas", "ask_human", None, None, None),
    ("bisa ngomong sama orang beneran?", "ask_human", None, None, None),
    ("halo selamat siang", "unknown", None, None, None),
    ("", "unknown", None, None, None),
]


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert {case[1] for case in CASES} == set(INTENTS)


@pytest.mark.parametrize(("text", "intent", "amount", "when", "clock"), CASES)
def test_understand_id(text: str, intent: str, amount: int | None, when: date | None,
                       clock: str | None) -> None:
    result = understand(text, "id", CTX)
    assert (result.intent, result.amount, result.date, result.time) == (
        intent, amount, when, clock)


def test_payday_unknown_leaves_date_empty() -> None:
    result = understand("abis gajian", "id", NluContext(today=TODAY, amount_due=1_000_000))
    assert (result.intent, result.date) == ("promise_full", None)


def test_half_without_amount_due_is_no_amount() -> None:
    result = understand("setengah dulu", "id", NluContext(today=TODAY))
    assert (result.intent, result.amount) == ("promise_partial", None)


def test_day_already_past_this_month_rolls_to_next_month() -> None:
    result = understand("tanggal 3", "id", CTX)
    assert result.date == date(2027, 1, 3)


def test_payday_already_past_rolls_to_next_month() -> None:
    ctx = NluContext(today=date(2026, 12, 28), amount_due=1_000, payday=25)
    assert understand("gajian", "id", ctx).date == date(2027, 1, 25)


def test_end_of_month_clips_february() -> None:
    ctx = NluContext(today=date(2027, 1, 31), amount_due=1_000)
    assert understand("bulan depan", "id", ctx).date == date(2027, 2, 28)
