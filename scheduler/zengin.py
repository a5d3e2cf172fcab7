"""Zengin (全銀協) direct-debit files: 預金口座振替依頼データ and its result file.

A file is a sequence of 120-byte fixed-width records in Shift_JIS (JIS X 0201:
ASCII plus single-byte half-width katakana), optionally each followed by CRLF:

    header (データ区分 1), data (2) x n, trailer (8), end (9)

Numeric (N) fields are right-justified and zero-padded; character (C) fields
are left-justified and space-padded. The request file carries 振替結果コード "0"
and zero result totals; the bank's result file is the same file with each
data record's 振替結果コード and the trailer's 振替済/振替不能 totals filled in.

Byte layout (0-based offsets):

    header   0 データ区分 "1"   1 種別コード "91"   3 コード区分 "0"   4 委託者コード N10
             14 委託者名 C40    54 引落日 MMDD N4   58 取引銀行番号 N4   62 取引銀行名 C15
             77 取引支店番号 N3  80 取引支店名 C15   95 預金種目 N1      96 口座番号 N7
             103 ダミー C17
    data     0 データ区分 "2"   1 引落銀行番号 N4   5 引落銀行名 C15   20 引落支店番号 N3
             23 引落支店名 C15  38 ダミー C4        42 預金種目 N1     43 口座番号 N7
             50 預金者名 C30    80 引落金額 N10     90 新規コード N1   91 顧客番号 N20
             111 振替結果コード N1                 112 ダミー C8
    trailer  0 データ区分 "8"   1 合計件数 N6       7 合計金額 N12     19 振替済件数 N6
             25 振替済金額 N12  37 振替不能件数 N6  43 振替不能金額 N12 55 ダミー C65
    end      0 データ区分 "9"   1 ダミー C119

The full account number is a secret of the holder: no message and no ``repr``
here contains it, and nothing here logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from policy_core.bank import ZENGIN_ACCOUNT_TYPE_CODES, ZENGIN_ALLOWED
from scheduler.gateway import (
    CUSTOMER_NUMBER_LENGTH,
    RESULT_CODES,
    SUCCESS_CODE,
    DebitRequest,
    simulated_result_code,
)

RECORD_LENGTH = 120
ENCODING = "shift_jis"
CRLF = b"\r\n"
TYPE_CODE_DIRECT_DEBIT = "91"
CODE_KUBUN_JIS = "0"
NEW_CODE = "0"
MAX_AMOUNT = 9_999_999_999  # 引落金額 N(10)

HEADER, DATA, TRAILER, END = "1", "2", "8", "9"

ZENGIN_CHARACTERS: frozenset[str] = frozenset(
    {chr(c) for c in range(0xFF66, 0xFFA0)} - set("ｧｨｩｪｫｯｬｭｮ")
    | set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().-/")
)
"""Characters a C field may hold; the same set ``policy_core.bank`` normalises holder names to."""

_ACCOUNT_TYPE_CODES = frozenset(ZENGIN_ACCOUNT_TYPE_CODES.values()) | {"9"}

# (label, offset, width, kind) per record; kind "N" digits, "C" Zengin characters.
_HEADER_FIELDS = (
    ("データ区分", 0, 1, "N"),
    ("種別コード", 1, 2, "N"),
    ("コード区分", 3, 1, "N"),
    ("委託者コード", 4, 10, "N"),
    ("委託者名", 14, 40, "C"),
    ("引落日", 54, 4, "N"),
    ("取引銀行番号", 58, 4, "N"),
    ("取引銀行名", 62, 15, "C"),
    ("取引支店番号", 77, 3, "N"),
    ("取引支店名", 80, 15, "C"),
    ("預金種目", 95, 1, "N"),
    ("口座番号", 96, 7, "N"),
    ("ダミー", 103, 17, "C"),
)
_DATA_FIELDS = (
    ("データ区分", 0, 1, "N"),
    ("引落銀行番号", 1, 4, "N"),
    ("引落銀行名", 5, 15, "C"),
    ("引落支店番号", 20, 3, "N"),
    ("引落支店名", 23, 15, "C"),
    ("ダミー", 38, 4, "C"),
    ("預金種目", 42, 1, "N"),
    ("口座番号", 43, 7, "N"),
    ("預金者名", 50, 30, "C"),
    ("引落金額", 80, 10, "N"),
    ("新規コード", 90, 1, "N"),
    ("顧客番号", 91, 20, "N"),
    ("振替結果コード", 111, 1, "N"),
    ("ダミー", 112, 8, "C"),
)
_TRAILER_FIELDS = (
    ("データ区分", 0, 1, "N"),
    ("合計件数", 1, 6, "N"),
    ("合計金額", 7, 12, "N"),
    ("振替済件数", 19, 6, "N"),
    ("振替済金額", 25, 12, "N"),
    ("振替不能件数", 37, 6, "N"),
    ("振替不能金額", 43, 12, "N"),
    ("ダミー", 55, 65, "C"),
)
_END_FIELDS = (
    ("データ区分", 0, 1, "N"),
    ("ダミー", 1, 119, "C"),
)
_LAYOUTS = {HEADER: _HEADER_FIELDS, DATA: _DATA_FIELDS, TRAILER: _TRAILER_FIELDS, END: _END_FIELDS}
_RECORD_NAMES = {HEADER: "header", DATA: "data", TRAILER: "trailer", END: "end"}
_SECRET_FIELDS = frozenset({"口座番号"})
_RESULT_CODE_OFFSET = 111


class ZenginFormatError(ValueError):
    """A Zengin file cannot be written or read as given."""


def _mask(account_number: str) -> str:
    return "****" + account_number[-3:]


# --- parsed records ------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Header:
    type_code: str
    code_kubun: str
    collector_code: str
    collector_name_kana: str
    debit_mmdd: str
    bank_code: str
    bank_name_kana: str
    branch_code: str
    branch_name_kana: str
    account_type: str
    account_number: str

    def __repr__(self) -> str:
        return (
            f"Header(collector_code={self.collector_code!r}, debit_mmdd={self.debit_mmdd!r}, "
            f"bank_code={self.bank_code!r}, branch_code={self.branch_code!r}, "
            f"account_number={_mask(self.account_number)!r})"
        )


@dataclass(frozen=True, repr=False)
class DataRecord:
    """One data record; in a result file its ``result_code`` says what the bank did."""

    bank_code: str
    bank_name_kana: str
    branch_code: str
    branch_name_kana: str
    account_type: str  # Zengin 預金種目 code: "1" 普通, "2" 当座
    account_number: str
    holder_kana: str
    amount: int
    new_code: str
    customer_number: str  # 20 digits, as written
    result_code: str

    @property
    def success(self) -> bool:
        return self.result_code == SUCCESS_CODE

    @property
    def reason(self) -> str:
        return RESULT_CODES.get(self.result_code, "unknown")

    @property
    def account_number_masked(self) -> str:
        return _mask(self.account_number)

    def __repr__(self) -> str:
        return (
            f"DataRecord(customer_number={self.customer_number!r}, amount={self.amount!r}, "
            f"result_code={self.result_code!r}, bank_code={self.bank_code!r}, "
            f"branch_code={self.branch_code!r}, account_type={self.account_type!r}, "
            f"account_number={self.account_number_masked!r})"
        )


ResultRecord = DataRecord
"""A data record read from the bank's result file."""


@dataclass(frozen=True)
class Trailer:
    total_count: int
    total_amount: int
    debited_count: int
    debited_amount: int
    failed_count: int
    failed_amount: int

    @property
    def has_results(self) -> bool:
        return any((self.debited_count, self.debited_amount, self.failed_count, self.failed_amount))


@dataclass(frozen=True)
class ParsedFile:
    header: Header
    records: list[DataRecord]
    trailer: Trailer


# --- writing -------------------------------------------------------------------


def _c_field(label: str, value: object, width: int, where: str) -> str:
    if not isinstance(value, str):
        raise ZenginFormatError(f"{where}: {label} must be a string")
    bad = sorted({ch for ch in value if ch not in ZENGIN_CHARACTERS})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise ZenginFormatError(
            f"{where}: {label} contains characters outside the Zengin set: {shown}; "
            f"allowed: {ZENGIN_ALLOWED} (policy_core.bank.normalize_zengin_kana converts "
            "full-width kana)"
        )
    if len(value) > width:
        raise ZenginFormatError(f"{where}: {label} is {len(value)} characters; the field holds {width}")
    return value.ljust(width)


def _n_field(label: str, value: object, width: int, where: str, *, pad: bool = False) -> str:
    """Digits; exactly ``width`` of them unless ``pad`` (then right-justified, zero-filled)."""
    secret = label in _SECRET_FIELDS
    if not isinstance(value, str) or not value or not all("0" <= ch <= "9" for ch in value):
        shown = "" if secret else f", got {value!r}"
        raise ZenginFormatError(f"{where}: {label} must be {width} digits{shown}")
    if len(value) > width or (len(value) != width and not pad):
        shown = f"got {len(value)} digits" if secret else f"got {value!r}"
        need = f"at most {width}" if pad else f"exactly {width}"
        raise ZenginFormatError(f"{where}: {label} must be {need} digits, {shown}")
    return value.zfill(width)


def _number(label: str, value: object, width: int, where: str) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ZenginFormatError(
            f"{where}: {label} must be an integer number of yen, got {type(value).__name__}"
        )
    if value < 0 or len(str(value)) > width:
        raise ZenginFormatError(f"{where}: {label} {value} does not fit {width} digits")
    return str(value).zfill(width)


def _encode(text: str, where: str) -> bytes:
    try:
        data = text.encode(ENCODING)
    except UnicodeEncodeError:  # unreachable after field checks; kept as a guard
        raise ZenginFormatError(f"{where}: record cannot be encoded as Shift_JIS") from None
    if len(data) != RECORD_LENGTH:
        raise ZenginFormatError(f"{where}: record is {len(data)} bytes; every record must be 120")
    return data


def _account_type_code(value: object, where: str) -> str:
    if isinstance(value, str) and value in ZENGIN_ACCOUNT_TYPE_CODES:
        return ZENGIN_ACCOUNT_TYPE_CODES[value]
    if isinstance(value, str) and value in _ACCOUNT_TYPE_CODES:
        return value
    raise ZenginFormatError(
        f"{where}: 預金種目 must be one of {', '.join(ZENGIN_ACCOUNT_TYPE_CODES)} "
        f"or a code {', '.join(sorted(_ACCOUNT_TYPE_CODES))}, got {value!r}"
    )


def _check_separator(record_separator: bytes) -> bytes:
    if record_separator not in (CRLF, b""):
        raise ZenginFormatError(r"record_separator must be b'\r\n' or b'' (CR-only or LF-only is refused)")
    return record_separator


def _join(records: Sequence[bytes], separator: bytes) -> bytes:
    return b"".join(record + separator for record in records)


def _trailer(count: int, total: int, ok_count: int, ok_amount: int, ng_count: int, ng_amount: int) -> bytes:
    where = "trailer record"
    text = (
        TRAILER
        + _number("合計件数", count, 6, where)
        + _number("合計金額", total, 12, where)
        + _number("振替済件数", ok_count, 6, where)
        + _number("振替済金額", ok_amount, 12, where)
        + _number("振替不能件数", ng_count, 6, where)
        + _number("振替不能金額", ng_amount, 12, where)
        + " " * 65
    )
    return _encode(text, where)


def _data_record(index: int, request: DebitRequest, collection_date: date) -> bytes:
    if not isinstance(request, DebitRequest):
        raise ZenginFormatError(f"data record {index}: expected a DebitRequest")
    where = f"data record {index} (customer {request.customer_number})"
    if request.debit_date != collection_date:
        raise ZenginFormatError(
            f"{where}: debit date {request.debit_date.isoformat()} differs from the file's "
            f"引落日 {collection_date.isoformat()}; write one file per debit date"
        )
    account = request.account
    amount = _number("引落金額", request.amount, 10, where)
    if request.amount < 1:
        raise ZenginFormatError(f"{where}: 引落金額 must be at least 1 yen")
    text = (
        DATA
        + _n_field("引落銀行番号", account.bank_code, 4, where)
        + " " * 15  # 引落銀行名: optional, left blank
        + _n_field("引落支店番号", account.branch_code, 3, where)
        + " " * 15  # 引落支店名: optional, left blank
        + " " * 4  # ダミー
        + _account_type_code(account.account_type, where)
        + _n_field("口座番号", account.account_number, 7, where)
        + _c_field("預金者名", account.holder_kana, 30, where)
        + amount
        + request.new_code
        + _n_field("顧客番号", request.customer_number, CUSTOMER_NUMBER_LENGTH, where, pad=True)
        + SUCCESS_CODE  # 振替結果コード: "0" in a request
        + " " * 8
    )
    return _encode(text, where)


def write_request_file(
    requests: Sequence[DebitRequest],
    *,
    collector_code: str,
    collector_name_kana: str,
    collection_date: date,
    bank_code: str,
    bank_name_kana: str,
    branch_code: str,
    branch_name_kana: str,
    account_type: str,
    account_number: str,
    record_separator: bytes = CRLF,
) -> bytes:
    """The 預金口座振替依頼データ for one debit date.

    The header names the collector (委託者) and its own receiving account at the
    collecting bank; ``account_type`` is "ordinary"/"current" or a code "1"/"2"/"9".
    Every request must fall on ``collection_date``; customer numbers must be unique.
    """
    separator = _check_separator(record_separator)
    if not isinstance(collection_date, date):
        raise ZenginFormatError("collection_date must be a date")
    requests = list(requests)
    if not requests:
        raise ZenginFormatError("no debit requests: a Zengin file needs at least one data record")
    where = "header record"
    header = _encode(
        HEADER
        + TYPE_CODE_DIRECT_DEBIT
        + CODE_KUBUN_JIS
        + _n_field("委託者コード", collector_code, 10, where)
        + _c_field("委託者名", collector_name_kana, 40, where)
        + collection_date.strftime("%m%d")
        + _n_field("取引銀行番号", bank_code, 4, where)
        + _c_field("取引銀行名", bank_name_kana, 15, where)
        + _n_field("取引支店番号", branch_code, 3, where)
        + _c_field("取引支店名", branch_name_kana, 15, where)
        + _account_type_code(account_type, where)
        + _n_field("口座番号", account_number, 7, where)
        + " " * 17,
        where,
    )
    seen: set[str] = set()
    data: list[bytes] = []
    for index, request in enumerate(requests, start=1):
        record = _data_record(index, request, collection_date)
        number = request.customer_number.zfill(CUSTOMER_NUMBER_LENGTH)
        if number in seen:
            raise ZenginFormatError(
                f"data record {index}: customer number {number} appears twice; "
                "results could not be matched to requests"
            )
        seen.add(number)
        data.append(record)
    total = sum(request.amount for request in requests)
    trailer = _trailer(len(requests), total, 0, 0, 0, 0)
    end = _encode(END + " " * 119, "end record")
    return _join([header, *data, trailer, end], separator)


# --- reading -------------------------------------------------------------------


def _split_records(data: bytes) -> list[bytes]:
    if not isinstance(data, (bytes, bytearray)):
        raise ZenginFormatError("a Zengin file must be bytes")
    data = bytes(data)
    if not data:
        raise ZenginFormatError("the file is empty")
    if b"\r" in data or b"\n" in data:
        body = data[:-2] if data.endswith(CRLF) else data
        records = body.split(CRLF)
        for number, record in enumerate(records, start=1):
            if b"\r" in record or b"\n" in record:
                raise ZenginFormatError(
                    f"record {number}: stray CR or LF; records must be separated by CRLF or by nothing"
                )
    else:
        if len(data) % RECORD_LENGTH:
            raise ZenginFormatError(
                f"the file is {len(data)} bytes, not a multiple of {RECORD_LENGTH}; a record is missing bytes"
            )
        records = [data[i : i + RECORD_LENGTH] for i in range(0, len(data), RECORD_LENGTH)]
    for number, record in enumerate(records, start=1):
        if len(record) != RECORD_LENGTH:
            raise ZenginFormatError(
                f"record {number} is {len(record)} bytes; every Zengin record must be {RECORD_LENGTH}"
            )
    return records


def _fields(record: bytes, kind_code: str, number: int) -> dict[str, str]:
    """Slice by byte offsets (not characters), decode and check every field."""
    where = f"record {number} ({_RECORD_NAMES[kind_code]})"
    values: dict[str, str] = {}
    for position, (label, offset, width, kind) in enumerate(_LAYOUTS[kind_code]):
        raw = record[offset : offset + width]
        try:
            text = raw.decode(ENCODING)
        except UnicodeDecodeError:
            raise ZenginFormatError(f"{where}: {label} is not valid Shift_JIS") from None
        if len(text) != width:
            raise ZenginFormatError(f"{where}: {label} holds double-byte characters; Zengin is single-byte")
        if kind == "N" and not (text.isascii() and text.isdigit()):
            shown = "" if label in _SECRET_FIELDS else f", got {text!r}"
            raise ZenginFormatError(f"{where}: {label} must be digits{shown}")
        key = label if label != "ダミー" else f"ダミー{position}"
        values[key] = text
    return values


def _read(data: bytes) -> ParsedFile:
    records = _split_records(data)
    kinds = [record[:1].decode("ascii", errors="replace") for record in records]
    for number, kind in enumerate(kinds, start=1):
        if kind not in _LAYOUTS:
            raise ZenginFormatError(f"record {number}: unknown データ区分 {kind!r}")
    expected = "header (1), data (2)..., trailer (8), end (9)"
    if kinds[0] != HEADER:
        raise ZenginFormatError(f"record 1 is a {_RECORD_NAMES[kinds[0]]} record; expected {expected}")
    if len(kinds) < 3 or kinds[-1] != END or kinds[-2] != TRAILER:
        raise ZenginFormatError(f"the file must end with a trailer and an end record; expected {expected}")
    for number, kind in enumerate(kinds[1:-2], start=2):
        if kind != DATA:
            raise ZenginFormatError(
                f"record {number} is a {_RECORD_NAMES[kind]} record between the header and the "
                f"trailer; expected {expected} (multi-file Zengin is not supported)"
            )

    h = _fields(records[0], HEADER, 1)
    if h["種別コード"] != TYPE_CODE_DIRECT_DEBIT:
        raise ZenginFormatError(
            f"header 種別コード is {h['種別コード']!r}; a direct-debit file has {TYPE_CODE_DIRECT_DEBIT!r}"
        )
    if h["コード区分"] != CODE_KUBUN_JIS:
        raise ZenginFormatError(f"header コード区分 is {h['コード区分']!r}; only 0 (JIS) is supported")
    mmdd = h["引落日"]
    try:
        date(2000, int(mmdd[:2]), int(mmdd[2:]))  # a leap year, so 0229 passes
    except ValueError:
        raise ZenginFormatError(f"header 引落日 {mmdd!r} is not a valid MMDD") from None
    header = Header(
        type_code=h["種別コード"],
        code_kubun=h["コード区分"],
        collector_code=h["委託者コード"],
        collector_name_kana=h["委託者名"].rstrip(" "),
        debit_mmdd=mmdd,
        bank_code=h["取引銀行番号"],
        bank_name_kana=h["取引銀行名"].rstrip(" "),
        branch_code=h["取引支店番号"],
        branch_name_kana=h["取引支店名"].rstrip(" "),
        account_type=h["預金種目"],
        account_number=h["口座番号"],
    )

    rows: list[DataRecord] = []
    for number, record in enumerate(records[1:-2], start=2):
        d = _fields(record, DATA, number)
        rows.append(
            DataRecord(
                bank_code=d["引落銀行番号"],
                bank_name_kana=d["引落銀行名"].rstrip(" "),
                branch_code=d["引落支店番号"],
                branch_name_kana=d["引落支店名"].rstrip(" "),
                account_type=d["預金種目"],
                account_number=d["口座番号"],
                holder_kana=d["預金者名"].rstrip(" "),
                amount=int(d["引落金額"]),
                new_code=d["新規コード"],
                customer_number=d["顧客番号"],
                result_code=d["振替結果コード"],
            )
        )

    t = _fields(records[-2], TRAILER, len(records) - 1)
    _fields(records[-1], END, len(records))
    trailer = Trailer(
        total_count=int(t["合計件数"]),
        total_amount=int(t["合計金額"]),
        debited_count=int(t["振替済件数"]),
        debited_amount=int(t["振替済金額"]),
        failed_count=int(t["振替不能件数"]),
        failed_amount=int(t["振替不能金額"]),
    )
    if trailer.total_count != len(rows):
        raise ZenginFormatError(
            f"trailer 合計件数 is {trailer.total_count} but the file has {len(rows)} data records"
        )
    amount = sum(row.amount for row in rows)
    if trailer.total_amount != amount:
        raise ZenginFormatError(
            f"trailer 合計金額 is {trailer.total_amount} but the data records add up to {amount}"
        )
    seen: set[str] = set()
    for row in rows:
        if row.customer_number in seen:
            raise ZenginFormatError(f"customer number {row.customer_number} appears twice")
        seen.add(row.customer_number)
    return ParsedFile(header=header, records=rows, trailer=trailer)


def parse_request_file(data: bytes) -> ParsedFile:
    """Read a 預金口座振替依頼データ: structure, lengths, order and 合計 totals are checked."""
    parsed = _read(data)
    if parsed.trailer.has_results or any(row.result_code != SUCCESS_CODE for row in parsed.records):
        raise ZenginFormatError(
            "this is a result file, not a request: 振替結果コード or the trailer's "
            "振替済/振替不能 totals are filled in"
        )
    return parsed


def _normalise_customer_number(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= CUSTOMER_NUMBER_LENGTH
        or not all("0" <= ch <= "9" for ch in value)
    ):
        raise ZenginFormatError(f"customer number must be 1 to 20 digits, got {value!r}")
    return value.zfill(CUSTOMER_NUMBER_LENGTH)


def write_result_file(
    request_file: bytes,
    results: Mapping[str, str],
    *,
    record_separator: bytes = CRLF,
) -> bytes:
    """What the bank sends back: the request's records with 振替結果コード and result totals filled.

    ``results`` maps each customer number (as in the request, zero padding optional)
    to its Zengin result code; every data record needs exactly one.
    """
    separator = _check_separator(record_separator)
    parsed = parse_request_file(request_file)
    codes: dict[str, str] = {}
    for key, code in results.items():
        number = _normalise_customer_number(key)
        if number in codes:
            raise ZenginFormatError(f"customer number {number} is given twice in the results")
        if code not in RESULT_CODES:
            raise ZenginFormatError(
                f"customer {number}: result code {code!r} is not a Zengin 振替結果コード "
                f"({', '.join(RESULT_CODES)})"
            )
        codes[number] = code
    in_file = {row.customer_number for row in parsed.records}
    missing = [row.customer_number for row in parsed.records if row.customer_number not in codes]
    if missing:
        raise ZenginFormatError(f"no result for customer number(s) {', '.join(missing)}")
    extra = sorted(set(codes) - in_file)
    if extra:
        raise ZenginFormatError(f"results for customer number(s) not in the file: {', '.join(extra)}")

    records = _split_records(request_file)
    out = [records[0]]
    ok_count = ok_amount = ng_count = ng_amount = 0
    for record, row in zip(records[1:-2], parsed.records, strict=True):
        code = codes[row.customer_number]
        if code == SUCCESS_CODE:
            ok_count, ok_amount = ok_count + 1, ok_amount + row.amount
        else:
            ng_count, ng_amount = ng_count + 1, ng_amount + row.amount
        off = _RESULT_CODE_OFFSET
        out.append(record[:off] + code.encode("ascii") + record[off + 1 :])
    trailer = parsed.trailer
    out.append(_trailer(trailer.total_count, trailer.total_amount, ok_count, ok_amount, ng_count, ng_amount))
    out.append(records[-1])
    return _join(out, separator)


def parse_result_file(data: bytes) -> list[ResultRecord]:
    """Read the bank's result file; every result code and every trailer total is checked."""
    parsed = _read(data)
    ok_count = ok_amount = ng_count = ng_amount = 0
    for row in parsed.records:
        if row.result_code not in RESULT_CODES:
            raise ZenginFormatError(
                f"customer {row.customer_number}: result code {row.result_code!r} is not a "
                f"Zengin 振替結果コード ({', '.join(RESULT_CODES)})"
            )
        if row.success:
            ok_count, ok_amount = ok_count + 1, ok_amount + row.amount
        else:
            ng_count, ng_amount = ng_count + 1, ng_amount + row.amount
    trailer = parsed.trailer
    declared = (trailer.debited_count, trailer.debited_amount, trailer.failed_count, trailer.failed_amount)
    actual = (ok_count, ok_amount, ng_count, ng_amount)
    if declared != actual:
        hint = " (it looks like an unanswered request file)" if not trailer.has_results else ""
        raise ZenginFormatError(
            "trailer result totals (振替済件数, 振替済金額, 振替不能件数, 振替不能金額) are "
            f"{declared} but the data records give {actual}{hint}"
        )
    return parsed.records


def simulate_result_file(request_file: bytes, *, record_separator: bytes = CRLF) -> bytes:
    """The result file ``SimulatedBank`` would send back for ``request_file``."""
    parsed = parse_request_file(request_file)
    results = {row.customer_number: simulated_result_code(row.account_number) for row in parsed.records}
    return write_result_file(request_file, results, record_separator=record_separator)
