"""The closed vocabularies of the API; clients and peers depend on these exact strings."""

EVENT_KINDS = (
    "strike",
    "walkout",
    "picket",
    "rally",
    "march",
    "vigil",
    "noise_demo",
    "boycott",
    "teach_in",
    "meeting",
    "other",
)
EVENT_STATUSES = ("confirmed", "tentative", "cancelled")
ENDORSEMENT_LEVELS = ("endorse", "mobilize", "strike", "solidarity")
ORGANIZATION_KINDS = (
    "union",
    "local",
    "faith",
    "community",
    "student",
    "immigrant_rights",
    "tenant",
    "political",
    "other",
)
