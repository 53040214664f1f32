"""Patterns for forward extraction: header labels, separator lines and subject prefixes in ~20 languages."""

from __future__ import annotations

import re
from enum import Enum


class Field(Enum):
    """A header of the forwarded mail, whatever the client's language calls it."""

    FROM = "from"
    TO = "to"
    CC = "cc"
    DATE = "date"
    SUBJECT = "subject"
    REPLY_TO = "reply_to"


# Header labels as the clients write them (Outlook, Gmail, Thunderbird, Apple Mail, Yandex, Mail.ru,
# Yahoo, new Outlook, HubSpot…), lower-cased. Longer labels first so that «от кого» wins over «от».
_LABELS: dict[Field, tuple[str, ...]] = {
    Field.FROM: (
        "from",
        "от кого",
        "от",
        "отправитель",
        "від кого",
        "від",
        "de la",
        "de",
        "von",
        "da",
        "van",
        "fra",
        "från",
        "od",
        "nadawca",
        "feladó",
        "lähettäjä",
        "kimden",
        "gönderen",
        "šalje",
        "saatja",
        "expeditorul",
        "mittente",
        "expéditeur",
        "remitente",
        "afzender",
        "差出人",
        "送信元",
        "发件人",
        "寄件者",
    ),
    Field.TO: (
        "to",
        "кому",
        "à",
        "a",
        "pour",
        "para",
        "an",
        "aan",
        "til",
        "till",
        "do",
        "komu",
        "címzett",
        "vastaanottaja",
        "kime",
        "prima",
        "pre",
        "către",
        "destinatarul",
        "adresat",
        "destinataire",
        "destinatario",
        "ontvanger",
        "宛先",
        "送信先",
        "收件人",
    ),
    Field.CC: (
        "cc",
        "копия",
        "копія",
        "kopie (cc)",
        "kopie",
        "copie à",
        "copie",
        "kopia",
        "kopi",
        "dw",
        "másolatot kap",
        "másolat",
        "kopio",
        "bilgi",
        "kópia",
        "抄送",
        "副本",
    ),
    Field.DATE: (
        "date",
        "sent",
        "дата",
        "отправлено",
        "отправленные",
        "надіслано",
        "відправлено",
        "gönderildi",
        "gönderilen",
        "trimis",
        "lähetetty",
        "odoslané",
        "datum",
        "data",
        "dato",
        "fecha",
        "enviado",
        "enviada em",
        "gesendet",
        "päivämäärä",
        "päiväys",
        "tarih",
        "dátum",
        "dată",
        "envoyé",
        "inviato",
        "verzonden",
        "sendt",
        "skickat",
        "wysłano",
        "odesláno",
        "elküldve",
        "日付",
        "发送时间",
        "送信日時",
    ),
    Field.SUBJECT: (
        "subject",
        "тема",
        "betreff",
        "objet",
        "sujet",
        "asunto",
        "assunto",
        "oggetto",
        "onderwerp",
        "emne",
        "ämne",
        "temat",
        "předmět",
        "predmet",
        "tárgy",
        "aihe",
        "konu",
        "subiectul",
        "subiect",
        "naslov",
        "teema",
        "件名",
        "主题",
        "主旨",
    ),
    Field.REPLY_TO: ("reply-to", "reply to", "ответить", "antwort an", "répondre à", "responder a"),
}

LABEL_FIELDS: dict[str, Field] = {label: field for field, labels in _LABELS.items() for label in labels}
_ALL_LABELS = sorted(LABEL_FIELDS, key=len, reverse=True)
_LABEL_ALTERNATION = "|".join(re.escape(label) for label in _ALL_LABELS)

# «From: …», «*От:* …», «> Тема: …», «Кому:\t…», «件名：…». The label is group 1, the value group 2.
# Matched against a line whose blanks are squeezed to single spaces (see forward._flat).
HEADER_LINE = re.compile(
    rf"^[\s>]*\**\s?({_LABEL_ALTERNATION})\s?\**\s?[:：]\s?\**\s?(.*)$",
    re.IGNORECASE,
)


# Yahoo writes the whole header block on one line: «From: a <a@b>To: "c" <c@d>Cc: …Sent: …Subject: …».
# A label glued to the previous value starts a new header when it is capitalised as clients write it.
def _capitalised(labels: list[str]) -> str:
    forms = {label[:1].upper() + label[1:] for label in labels} | {label.upper() for label in labels if len(label) <= 3}
    return "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))


_GLUED_LONG = _capitalised([label for label in _ALL_LABELS if len(label) > 1 and label[0].isalpha()])
_GLUED_SHORT = _capitalised([label for label in _ALL_LABELS if len(label) == 1])
GLUED_HEADER = re.compile(rf"(?:(?<=[\s>\"\d\w)])(?=(?:{_GLUED_LONG})\s?:\s)|(?<=[>\"])(?=(?:{_GLUED_SHORT})\s?:\s))")
# Yahoo in Portuguese drops the colon after the last label: «…09:26:50 CETAssunto Integer …».
GLUED_SUBJECT_NO_COLON = re.compile(
    rf"(?<=[^\W_])(?:{_capitalised(list(_LABELS[Field.SUBJECT]))})\s+(\S.{{0,600}}?)\s*$"
)

# Separator lines that only a forward writes: «---------- Forwarded message ---------»,
# «-------- Пересылаемое сообщение --------», «Begin forwarded message:», «Начало переадресованного сообщения:».
_FORWARD_WORDS = (
    r"forward|переслан|пересыла|переадрес|перенаправ|пересила|переслане|weitergeleitet|transf[ée]r[ée]|"
    r"r[ée]exp[ée]di|reenviad|reencaminhad|encaminhad|inoltrat|doorgestuurd|videresend|vidarebefordra|"
    r"przekazan|przes[łl]ana\s+dalej|přeposla|preposla|továbbított|edelleenlähetetty|välitetty|iletil|"
    r"redirecționat|proslijeđen|転送|转发|fwd\.msg"
)
FORWARD_SEPARATOR = re.compile(
    rf"^[\s>*]*(?:-{{2,}}|_{{2,}})?[^\n]{{0,60}}?(?:{_FORWARD_WORDS})[^\n]{{0,60}}?(?:-{{2,}}|:)?\s*\**\s*$",
    re.IGNORECASE,
)
END_OF_FORWARD = re.compile(
    r"^[\s>*]*(?:-{2,}|(?:={2,}8<)?={2,})\s*(?:конец\s+(?:пересылаемого|переадресованного|перенаправленного|"
    r"пересланного)\s+сообщения|конец\s+исходного\s+текста\s+сообщения|end\s+(?:of\s+)?forwarded\s+message|"
    r"end\s+of\s+original\s+message\s+text)\s*(?:-{2,}|={2,})\s*$",
    re.IGNORECASE,
)
# The Bat!'s scissors line above the forwarded text: «===8<======Original message text======».
CUT_LINE = re.compile(r"^[\s>]*={2,}8<={2,}[^=\n]{0,60}={2,}\s*$")
# Separators that replies and forwards share («-----Original Message-----», «-----Исходное сообщение-----»,
# Outlook's line of underscores, any other dash-framed title).
GENERIC_SEPARATOR = re.compile(
    r"^[\s>*]*(?:-{2,}[^\n]{1,80}?-{2,}|_{10,}|[^\n:]{3,60}:)\s*\**\s*$",
)

# Subject prefixes. Outlook, Gmail, Yandex and Mail.ru forward as «Fwd:», «FW:», «Пересл:»; other
# languages as below. A reply prefix in front makes a header block in the body a quote, not a forward.
_FORWARD_PREFIX = (
    r"fwd?|fw|tr|wg|vs|vb|vl|rv|i|pd|enc|videresend|i̇lt|ilt|redir\.?|doorst|pfwd|"
    r"пересл|пер|переслано|fwd\.?"
)
_REPLY_PREFIX = r"re|aw|sv|antw|odp|ynt|vá|odg|atb|rif|r|res|ответ|отв|на|ha"
_PREFIX = rf"(?:{_FORWARD_PREFIX}|{_REPLY_PREFIX})"
SUBJECT_PREFIX = re.compile(
    rf"^\s*[\[(]?\s*({_PREFIX})\s*(?:\[\d{{1,4}}\]|\(\d{{1,4}}\)|\^\d{{1,4}})?\s*[\])]?\s*[:：]\s*",
    re.IGNORECASE,
)
FORWARD_PREFIX = re.compile(rf"^(?:{_FORWARD_PREFIX})$", re.IGNORECASE)

# No «'» in the local part: clients wrap addresses in single quotes («'a@b' <a@b>»).
EMAIL = r"[\w.!#$%&*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}"
