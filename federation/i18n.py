"""The pages' own words in English and Spanish; what organizers write is shown as written.

Two languages and a few dozen strings: a catalog in code is easier to review than a gettext
toolchain. Add a language by adding a dictionary.
"""

from __future__ import annotations

import datetime as dt

LANGUAGES = ("en", "es")

_ES = {
    "Upcoming actions": "Próximas acciones",
    "Actions near you, across the federation": "Acciones cerca de ti, en toda la federación",
    "Filter actions": "Filtrar acciones",
    "City": "Ciudad",
    "Coalition": "Coalición",
    "Campaign": "Campaña",
    "Kind of action": "Tipo de acción",
    "Any": "Cualquiera",
    "Show": "Mostrar",
    "Subscribe": "Suscribirse",
    "Add to your calendar app": "Añadir a tu aplicación de calendario",
    "Add to Google Calendar": "Añadir a Google Calendar",
    "Feed address (copy into Outlook or Thunderbird)": (
        "Dirección del calendario (cópiala en Outlook o Thunderbird)"
    ),
    "No upcoming actions.": "No hay próximas acciones.",
    "Cancelled": "Cancelada",
    "Tentative": "Por confirmar",
    "This action is cancelled. Do not go.": "Esta acción está cancelada. No vayas.",
    "This action is not confirmed yet.": "Esta acción aún no está confirmada.",
    "When": "Cuándo",
    "Where": "Dónde",
    "Online": "En línea",
    "Join online": "Unirse en línea",
    "Organized by": "Organiza",
    "Part of": "Parte de",
    "Tags": "Etiquetas",
    "Download .ics": "Descargar .ics",
    "Open in a map app": "Abrir en una aplicación de mapas",
    "all day": "todo el día",
    "Repeats": "Se repite",
    "every day": "cada día",
    "every week": "cada semana",
    "every month": "cada mes",
    "every year": "cada año",
    "until": "hasta",
    "The call": "La convocatoria",
    "Parallel actions": "Acciones paralelas",
    "Endorsements": "Apoyos",
    "Coalitions": "Coaliciones",
    "Member organizations": "Organizaciones miembro",
    "Website": "Sitio web",
    "Campaigns": "Campañas",
    "Language": "Idioma",
    "Skip to content": "Saltar al contenido",
    "Not found": "No encontrado",
    "Gone": "Ya no existe",
    "This page does not exist.": "Esta página no existe.",
    "This was deleted.": "Esto fue eliminado.",
    "Home": "Inicio",
    "Actions in": "Acciones en",
    "from": "de",
    "Status": "Estado",
    "Time zone": "Zona horaria",
    "This list shows only the next %d actions.": (
        "Esta lista muestra solo las próximas %d acciones."
    ),
    "Later actions, from %s": "Acciones posteriores, desde el %s",
}
_KINDS_ES = {
    "strike": "huelga",
    "walkout": "paro",
    "picket": "piquete",
    "rally": "concentración",
    "march": "marcha",
    "vigil": "vigilia",
    "noise_demo": "cacerolazo",
    "boycott": "boicot",
    "teach_in": "charla",
    "meeting": "reunión",
    "other": "otra",
}
_LEVELS = {
    "en": {
        "strike": "On strike",
        "mobilize": "Mobilizing",
        "endorse": "Endorsing",
        "solidarity": "In solidarity",
    },
    "es": {
        "strike": "En huelga",
        "mobilize": "Movilizan",
        "endorse": "Respaldan",
        "solidarity": "En solidaridad",
    },
}
_KINDS_EN = {"noise_demo": "noise demonstration", "teach_in": "teach-in"}
_DAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_MONTHS_ES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip


def choose(requested: str | None, accept_best: str | None) -> str:
    """An explicit ?lang= wins, then the browser's Accept-Language, then English."""
    for candidate in (requested, accept_best):
        if candidate in LANGUAGES:
            return candidate
    return "en"


def translate(lang: str, text: str) -> str:
    return _ES.get(text, text) if lang == "es" else text


def kind_label(lang: str, kind: str) -> str:
    if lang == "es":
        return _KINDS_ES.get(kind, kind)
    return _KINDS_EN.get(kind, kind)


def level_label(lang: str, level: str) -> str:
    return _LEVELS.get(lang, _LEVELS["en"]).get(level, level)


def format_day(lang: str, day: dt.date) -> str:
    if lang == "es":
        return f"{_DAYS_ES[day.weekday()]}, {day.day} de {_MONTHS_ES[day.month - 1]} de {day.year}"
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def format_time(lang: str, moment: dt.datetime) -> str:
    """Local wall-clock time with the zone's abbreviation: 12:00 PM CST / 12:00 CST."""
    zone = moment.tzname() or ""
    if lang == "es":
        return f"{moment:%H:%M} {zone}".strip()
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'} {zone}".strip()
