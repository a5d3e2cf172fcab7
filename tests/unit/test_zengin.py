"""Zengin 預金口座振替 request and result files: layout, round trip, refusals."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from policy_core.bank import validate_bank_account
from policy_core.errors import InvalidInput
from scheduler.gateway import DebitRequest, SimulatedBank, customer_number_for
from scheduler.zengin import (
    ZENGIN_CHARACTERS,
    ParsedFile,
    ZenginFormatError,
    parse_request_file,
    parse_result_file,
    simulate_result_file,
    write_request_file,
    write_result_file,
)

DEBIT_DAY = date(2025, 4, 28)
HOLDER = "ﾔﾏﾀﾞ ﾀﾛｳ"
HOLDER_SJIS = b"\xd4\xcf\xc0\xde \xc0\xdb\xb3"  # ﾔ ﾏ ﾀ ﾞ space ﾀ ﾛ ｳ, one byte each
COLLECTOR_ACCOUNT = "7654321"

HEADER_ARGS = dict(
    collector_code="1000000001",
    collector_name_kana="ﾄｳｷﾖｳｶｲｼﾞﾖｳ(ｶ",
    collection_date=DEBIT_DAY,
    bank_code="0005",
    bank_name_kana="ﾐﾂﾋﾞｼﾕｰｴﾌｼﾞｴｲ",
    branch_code="001",
    branch_name_kana="ﾎﾝﾃﾝ",
    account_type="current",
    account_number=COLLECTOR_ACCOUNT,
)


def _request(
    account_number: str = "1234567",
    amount: int = 12_345,
    *,
    seq: int = 1,
    account_type: str = "ordinary",
    holder: str = HOLDER,
    debit_date: date = DEBIT_DAY,
) -> DebitRequest:
    policy_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"policy-{seq}"))
    return DebitRequest(
        policy_id=policy_id,
        period_number=1,
        attempt=1,
        amount=amount,
        debit_date=debit_date,
        account=validate_bank_account("0001", "123", account_type, account_number, holder),
        customer_number=customer_number_for(policy_id, 1, 1),
    )


def _records(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def _field(record: bytes, offset: int, width: int) -> bytes:
    return record[offset : offset + width]


@pytest.fixture
def one_file() -> tuple[DebitRequest, bytes]:
    request = _request()
    return request, write_request_file([request], **HEADER_ARGS)


# --- layout, field by field -----------------------------------------------------


def test_every_record_is_120_bytes_and_crlf_terminated(one_file: tuple[DebitRequest, bytes]) -> None:
    _, data = one_file
    records = _records(data)
    assert len(records) == 4
    assert [len(r) for r in records] == [120] * 4
    assert len(data) == 4 * 122
    assert [r[:1] for r in records] == [b"1", b"2", b"8", b"9"]


def test_header_fields(one_file: tuple[DebitRequest, bytes]) -> None:
    header = _records(one_file[1])[0]
    assert _field(header, 0, 1) == b"1"  # データ区分
    assert _field(header, 1, 2) == b"91"  # 種別コード 口座振替
    assert _field(header, 3, 1) == b"0"  # コード区分 JIS
    assert _field(header, 4, 10) == b"1000000001"  # 委託者コード
    name = "ﾄｳｷﾖｳｶｲｼﾞﾖｳ(ｶ".encode("shift_jis")
    assert len(name) == 13  # half-width kana: one byte each
    assert _field(header, 14, 40) == name + b" " * 27  # 委託者名, left-justified
    assert _field(header, 54, 4) == b"0428"  # 引落日 MMDD
    assert _field(header, 58, 4) == b"0005"  # 取引銀行番号
    assert _field(header, 62, 15) == "ﾐﾂﾋﾞｼﾕｰｴﾌｼﾞｴｲ".encode("shift_jis") + b"  "  # 13 bytes + 2
    assert _field(header, 77, 3) == b"001"  # 取引支店番号
    assert _field(header, 80, 15) == b"\xce\xdd\xc3\xdd" + b" " * 11  # ﾎﾝﾃﾝ
    assert _field(header, 95, 1) == b"2"  # 預金種目 当座
    assert _field(header, 96, 7) == b"7654321"  # 口座番号
    assert _field(header, 103, 17) == b" " * 17  # ダミー


def test_data_record_fields(one_file: tuple[DebitRequest, bytes]) -> None:
    request, data = one_file
    record = _records(data)[1]
    assert _field(record, 0, 1) == b"2"
    assert _field(record, 1, 4) == b"0001"  # 引落銀行番号
    assert _field(record, 5, 15) == b" " * 15  # 引落銀行名 (blank)
    assert _field(record, 20, 3) == b"123"  # 引落支店番号
    assert _field(record, 23, 15) == b" " * 15  # 引落支店名 (blank)
    assert _field(record, 38, 4) == b" " * 4  # ダミー
    assert _field(record, 42, 1) == b"1"  # 預金種目 普通
    assert _field(record, 43, 7) == b"1234567"  # 口座番号
    assert _field(record, 50, 30) == HOLDER_SJIS + b" " * 22  # 預金者名, half-width kana 1 byte each
    assert _field(record, 80, 10) == b"0000012345"  # 引落金額, zero-padded
    assert _field(record, 90, 1) == b"0"  # 新規コード
    assert _field(record, 91, 20) == request.customer_number.encode("ascii")  # 顧客番号
    assert len(request.customer_number) == 20
    assert _field(record, 111, 1) == b"0"  # 振替結果コード, "0" in a request
    assert _field(record, 112, 8) == b" " * 8  # ダミー


def test_trailer_and_end_fields() -> None:
    requests = [_request("1234567", 12_345, seq=1), _request("2345678", 1_000_000, seq=2)]
    records = _records(write_request_file(requests, **HEADER_ARGS))
    trailer, end = records[-2], records[-1]
    assert _field(trailer, 0, 1) == b"8"
    assert _field(trailer, 1, 6) == b"000002"  # 合計件数
    assert _field(trailer, 7, 12) == b"000001012345"  # 合計金額
    assert _field(trailer, 19, 6) == b"000000"  # 振替済件数
    assert _field(trailer, 25, 12) == b"0" * 12  # 振替済金額
    assert _field(trailer, 37, 6) == b"000000"  # 振替不能件数
    assert _field(trailer, 43, 12) == b"0" * 12  # 振替不能金額
    assert _field(trailer, 55, 65) == b" " * 65  # ダミー
    assert end == b"9" + b" " * 119


def test_largest_amount_fits_ten_digits() -> None:
    data = write_request_file([_request(amount=9_999_999_999)], **HEADER_ARGS)
    assert _field(_records(data)[1], 80, 10) == b"9999999999"
    assert parse_request_file(data).records[0].amount == 9_999_999_999


def test_without_separator_records_are_contiguous() -> None:
    request = _request()
    plain = write_request_file([request], **HEADER_ARGS, record_separator=b"")
    with_crlf = write_request_file([request], **HEADER_ARGS)
    assert len(plain) == 4 * 120
    assert b"\r" not in plain and b"\n" not in plain
    assert plain == with_crlf.replace(b"\r\n", b"")
    assert parse_request_file(plain) == parse_request_file(with_crlf)


def test_parse_request_file_reads_back_every_field(one_file: tuple[DebitRequest, bytes]) -> None:
    request, data = one_file
    parsed = parse_request_file(data)
    assert isinstance(parsed, ParsedFile)
    h = parsed.header
    assert (h.type_code, h.code_kubun, h.collector_code, h.debit_mmdd) == ("91", "0", "1000000001", "0428")
    assert h.collector_name_kana == "ﾄｳｷﾖｳｶｲｼﾞﾖｳ(ｶ"
    assert (h.bank_code, h.bank_name_kana) == ("0005", "ﾐﾂﾋﾞｼﾕｰｴﾌｼﾞｴｲ")
    assert (h.branch_code, h.branch_name_kana, h.account_type, h.account_number) == (
        "001",
        "ﾎﾝﾃﾝ",
        "2",
        COLLECTOR_ACCOUNT,
    )
    [row] = parsed.records
    assert (row.bank_code, row.bank_name_kana) == ("0001", "")
    assert (row.branch_code, row.branch_name_kana) == ("123", "")
    assert (row.account_type, row.account_number, row.holder_kana) == ("1", "1234567", HOLDER)
    assert (row.amount, row.new_code, row.customer_number, row.result_code) == (
        12_345,
        "0",
        request.customer_number,
        "0",
    )
    t = parsed.trailer
    assert (t.total_count, t.total_amount, t.debited_count, t.failed_count) == (1, 12_345, 0, 0)


def test_short_customer_number_is_zero_padded_on_the_left() -> None:
    request = replace(_request(), customer_number="42")
    data = write_request_file([request], **HEADER_ARGS)
    assert _field(_records(data)[1], 91, 20) == b"0" * 18 + b"42"
    result = write_result_file(data, {"42": "1"})
    assert parse_result_file(result)[0].customer_number == "0" * 18 + "42"


# --- round trip ----------------------------------------------------------------

CODES = ["0", "1", "2", "3", "4", "8", "9"]


def test_round_trip_with_every_result_code() -> None:
    requests = [
        _request(f"{1000000 + i}", 1_000 * (i + 1), seq=i, account_type=("ordinary", "current")[i % 2])
        for i in range(len(CODES))
    ]
    request_file = write_request_file(requests, **HEADER_ARGS)
    answers = {r.customer_number: code for r, code in zip(requests, CODES, strict=True)}
    result_file = write_result_file(request_file, answers)

    results = parse_result_file(result_file)
    assert [r.customer_number for r in results] == [r.customer_number for r in requests]
    assert [r.result_code for r in results] == CODES
    assert [r.amount for r in results] == [r.amount for r in requests]
    assert [r.account_number for r in results] == [r.account.account_number for r in requests]
    assert [r.account_type for r in results] == ["1", "2", "1", "2", "1", "2", "1"]
    assert [r.success for r in results] == [True] + [False] * 6
    assert [r.reason for r in results] == [
        "debited",
        "insufficient_funds",
        "no_such_account",
        "stopped_by_depositor",
        "no_direct_debit_mandate",
        "stopped_by_collector",
        "other",
    ]

    trailer = _records(result_file)[-2]
    assert _field(trailer, 1, 6) == b"000007"
    assert _field(trailer, 7, 12) == b"%012d" % 28_000
    assert _field(trailer, 19, 6) == b"000001"  # 振替済件数
    assert _field(trailer, 25, 12) == b"%012d" % 1_000  # 振替済金額
    assert _field(trailer, 37, 6) == b"000006"  # 振替不能件数
    assert _field(trailer, 43, 12) == b"%012d" % 27_000  # 振替不能金額

    # Only the result codes and the trailer change; header, data fields and end stay byte-identical.
    before, after = _records(request_file), _records(result_file)
    assert after[0] == before[0] and after[-1] == before[-1]
    for old, new, code in zip(before[1:-2], after[1:-2], CODES, strict=True):
        assert new[:111] == old[:111] and new[112:] == old[112:]
        assert new[111:112] == code.encode()
    assert all(len(r) == 120 for r in after)


def test_result_file_without_separator_parses_the_same() -> None:
    requests = [_request("1234567", seq=1), _request("2345678", seq=2)]
    request_file = write_request_file(requests, **HEADER_ARGS)
    answers = {requests[0].customer_number: "0", requests[1].customer_number: "1"}
    crlf = write_result_file(request_file, answers)
    plain = write_result_file(request_file, answers, record_separator=b"")
    assert len(plain) == 5 * 120
    assert parse_result_file(plain) == parse_result_file(crlf)


def test_simulated_result_file_agrees_with_simulated_bank() -> None:
    requests = [_request(f"900000{d}", 500 + d, seq=d) for d in range(10)] + [_request("1234567", seq=99)]
    request_file = write_request_file(requests, **HEADER_ARGS)
    result_file = simulate_result_file(request_file)
    from_file = {r.customer_number: r.result_code for r in parse_result_file(result_file)}
    from_bank = {r.request.customer_number: r.result_code for r in SimulatedBank().collect(requests)}
    assert from_file == from_bank
    assert sorted(set(from_file.values())) == ["0", "1", "2", "3", "4", "8", "9"]


# --- refusals when writing -----------------------------------------------------


def _write_error(requests: list[DebitRequest] | None = None, **overrides: object) -> str:
    with pytest.raises(ValueError) as exc:
        write_request_file(requests or [_request()], **{**HEADER_ARGS, **overrides})  # type: ignore[arg-type]
    assert isinstance(exc.value, ZenginFormatError)
    return str(exc.value)


def test_field_too_long_is_refused() -> None:
    message = _write_error(collector_name_kana="ｱ" * 41)
    assert "委託者名" in message and "41 characters" in message and "40" in message
    message = _write_error(bank_name_kana="ｱ" * 16)
    assert "取引銀行名" in message and "16 characters" in message


def test_kanji_in_a_name_is_refused() -> None:
    message = _write_error(collector_name_kana="東京海上")
    assert "委託者名" in message and "outside the Zengin set" in message and "'東'" in message
    message = _write_error(branch_name_kana="本店")
    assert "取引支店名" in message and "'本'" in message


def test_full_width_lower_case_and_small_kana_are_refused_not_silently_converted() -> None:
    assert "'ｮ'" in _write_error(collector_name_kana="ﾄｳｷｮｳ")
    assert "'ト'" in _write_error(collector_name_kana="トウキョウ")
    assert "'a'" in _write_error(collector_name_kana="abc")


def test_writer_character_set_matches_the_bank_account_rules() -> None:
    for ch in sorted(ZENGIN_CHARACTERS - {" "}):
        assert validate_bank_account("0001", "123", "ordinary", "1234567", ch).holder_kana == ch
    for ch in "ｧｯabcア":  # outside the set: the bank module normalises them into it
        assert ch not in ZENGIN_CHARACTERS
        holder = validate_bank_account("0001", "123", "ordinary", "1234567", "ｱ" + ch).holder_kana
        assert holder != "ｱ" + ch and set(holder) <= ZENGIN_CHARACTERS
    for ch in "｡､~\\東":  # outside the set: the bank module refuses them
        assert ch not in ZENGIN_CHARACTERS
        with pytest.raises(InvalidInput):
            validate_bank_account("0001", "123", "ordinary", "1234567", "ｱ" + ch)


def test_numeric_header_fields_must_have_exact_digits() -> None:
    assert "委託者コード" in _write_error(collector_code="123456789")
    assert "取引銀行番号" in _write_error(bank_code="5")
    assert "預金種目" in _write_error(account_type="savings")


def test_collector_account_number_is_never_echoed() -> None:
    message = _write_error(account_number="76543210")
    assert "口座番号" in message and "8 digits" in message
    assert "76543210" not in message and "7654321" not in message
    message = _write_error(account_number="76543X1")
    assert "76543" not in message


def test_amount_over_ten_digits_is_refused() -> None:
    message = _write_error([_request(amount=10_000_000_000)])
    assert "引落金額" in message and "10 digits" in message


def test_float_amount_is_refused_by_the_writer() -> None:
    request = _request()
    object.__setattr__(request, "amount", 1000.0)  # bypass DebitRequest's own check
    assert "integer" in _write_error([request])


def test_requests_for_another_debit_date_are_refused() -> None:
    message = _write_error([_request(debit_date=date(2025, 5, 27))])
    assert "2025-05-27" in message and "one file per debit date" in message


def test_duplicate_customer_numbers_are_refused() -> None:
    request = _request()
    assert "appears twice" in _write_error([request, replace(request, amount=1)])


def test_empty_batch_and_bad_separator_are_refused() -> None:
    with pytest.raises(ZenginFormatError, match="at least one data record"):
        write_request_file([], **HEADER_ARGS)
    assert "record_separator" in _write_error(record_separator=b"\n")


# --- refusals when reading -----------------------------------------------------


def _two_request_result() -> tuple[list[DebitRequest], bytes]:
    requests = [_request("1234567", 1_000, seq=1), _request("2345678", 2_000, seq=2)]
    answers = {requests[0].customer_number: "0", requests[1].customer_number: "1"}
    return requests, write_result_file(write_request_file(requests, **HEADER_ARGS), answers)


def _rebuild(records: list[bytes]) -> bytes:
    return b"".join(r + b"\r\n" for r in records)


def test_tampered_trailer_total_is_refused() -> None:
    _, result_file = _two_request_result()
    records = _records(result_file)
    trailer = records[-2]
    records[-2] = trailer[:7] + b"%012d" % 3_001 + trailer[19:]  # 合計金額 off by one
    with pytest.raises(ZenginFormatError, match="合計金額 is 3001 but the data records add up to 3000"):
        parse_result_file(_rebuild(records))


def test_tampered_result_totals_are_refused() -> None:
    _, result_file = _two_request_result()
    records = _records(result_file)
    trailer = records[-2]
    records[-2] = trailer[:19] + b"000002" + trailer[25:]  # 振替済件数 2 instead of 1
    with pytest.raises(ZenginFormatError, match="trailer result totals"):
        parse_result_file(_rebuild(records))


def test_tampered_result_code_is_refused() -> None:
    _, result_file = _two_request_result()
    records = _records(result_file)
    records[1] = records[1][:111] + b"1" + records[1][112:]  # now disagrees with the trailer
    with pytest.raises(ZenginFormatError, match="trailer result totals"):
        parse_result_file(_rebuild(records))
    records[1] = records[1][:111] + b"5" + records[1][112:]  # not a Zengin result code
    with pytest.raises(ZenginFormatError, match="'5' is not a Zengin"):
        parse_result_file(_rebuild(records))


def test_record_of_119_bytes_is_refused() -> None:
    _, result_file = _two_request_result()
    records = _records(result_file)
    records[1] = records[1][:119]
    with pytest.raises(ZenginFormatError, match="record 2 is 119 bytes"):
        parse_result_file(_rebuild(records))
    with pytest.raises(ZenginFormatError, match="not a multiple of 120"):
        parse_result_file(b"".join(records))


def test_wrong_record_order_is_refused() -> None:
    _, result_file = _two_request_result()
    header, d1, d2, trailer, end = _records(result_file)
    with pytest.raises(ZenginFormatError, match="record 1 is a data record"):
        parse_result_file(_rebuild([d1, header, d2, trailer, end]))
    with pytest.raises(ZenginFormatError, match="must end with a trailer and an end record"):
        parse_result_file(_rebuild([header, d1, d2, end, trailer]))
    with pytest.raises(ZenginFormatError, match="record 3 is a trailer record between"):
        parse_result_file(_rebuild([header, d1, trailer, d2, trailer, end]))
    with pytest.raises(ZenginFormatError, match="must end with a trailer and an end record"):
        parse_result_file(_rebuild([header, d1, d2, trailer]))
    with pytest.raises(ZenginFormatError, match="unknown データ区分"):
        parse_result_file(_rebuild([header, b"3" + d1[1:], d2, trailer, end]))


def test_lf_only_separators_are_refused() -> None:
    _, result_file = _two_request_result()
    with pytest.raises(ZenginFormatError, match="stray CR or LF"):
        parse_result_file(result_file.replace(b"\r\n", b"\n"))


def test_request_and_result_files_are_not_confused() -> None:
    requests, result_file = _two_request_result()
    request_file = write_request_file(requests, **HEADER_ARGS)
    with pytest.raises(ZenginFormatError, match="unanswered request file"):
        parse_result_file(request_file)
    with pytest.raises(ZenginFormatError, match="this is a result file"):
        parse_request_file(result_file)


def test_result_mapping_must_cover_the_file_exactly() -> None:
    requests = [_request("1234567", seq=1), _request("2345678", seq=2)]
    request_file = write_request_file(requests, **HEADER_ARGS)
    first, second = (r.customer_number for r in requests)
    with pytest.raises(ZenginFormatError, match=f"no result for customer number\\(s\\) {second}"):
        write_result_file(request_file, {first: "0"})
    with pytest.raises(ZenginFormatError, match="not in the file: 0{19}7"):
        write_result_file(request_file, {first: "0", second: "0", "7": "1"})
    with pytest.raises(ZenginFormatError, match="'6' is not a Zengin"):
        write_result_file(request_file, {first: "0", second: "6"})


def test_parse_errors_and_reprs_never_show_the_account_number() -> None:
    requests, result_file = _two_request_result()
    records = _records(result_file)
    records[1] = records[1][:43] + b"12345X7" + records[1][50:]  # 口座番号 not digits
    with pytest.raises(ZenginFormatError) as exc:
        parse_result_file(_rebuild(records))
    assert "口座番号" in str(exc.value) and "12345" not in str(exc.value)

    parsed = parse_result_file(result_file)
    text = repr(parsed) + repr(parse_request_file(write_request_file(requests, **HEADER_ARGS)))
    for secret in ("1234567", "2345678", COLLECTOR_ACCOUNT):
        assert secret not in text
    assert "****567" in text and "****321" in text


def test_new_account_code_is_written_in_column_90() -> None:
    """新規コード: 1 first debit from a new account, 2 the account was changed, 0 otherwise."""
    requests = [replace(_request(seq=i), new_code=code) for i, code in enumerate(("1", "2", "0"), start=1)]
    data = write_request_file(requests, **HEADER_ARGS)
    assert [r.new_code for r in parse_request_file(data).records] == ["1", "2", "0"]
    assert [rec[90:91] for rec in _records(data)[1:4]] == [b"1", b"2", b"0"]
    with pytest.raises(ValueError):
        replace(_request(), new_code="3")
