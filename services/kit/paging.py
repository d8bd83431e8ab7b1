"""How long a page of any list is, the same in every service and in the API documents."""

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
