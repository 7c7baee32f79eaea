"""UKE claims from 国保連 / 支払基金: check, bill, corrections (issue 11)."""
