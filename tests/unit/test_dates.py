"""The Japanese age law (domain.md §6): age is reached on the day before the birthday."""

import pandas as pd
import pytest

from rules import dates

CASES = [
    # birth, reaches 18 on, school-year end after 18, after 15, after 6
    pytest.param("2008-04-01", "2026-03-31", "2026-03-31", "2023-03-31", "2014-03-31", id="born April 1 finishes with the earlier school year"),
    pytest.param("2008-04-02", "2026-04-01", "2027-03-31", "2024-03-31", "2015-03-31", id="born April 2 reaches 18 on April 1"),
    pytest.param("2008-02-29", "2026-02-28", "2026-03-31", "2023-03-31", "2014-03-31", id="born Feb 29 reaches every age on Feb 28"),
    pytest.param("2010-04-02", "2028-04-01", "2029-03-31", "2026-03-31", "2017-03-31", id="born 2010-04-02 (T4)"),
    pytest.param("2019-04-01", "2037-03-31", "2037-03-31", "2034-03-31", "2025-03-31", id="born 2019-04-01"),
    pytest.param("2019-04-02", "2037-04-01", "2038-03-31", "2035-03-31", "2026-03-31", id="born 2019-04-02 (T23)"),
    pytest.param("2008-03-01", "2026-02-28", "2026-03-31", "2023-03-31", "2014-03-31", id="born March 1 reaches 18 on Feb 28 in a common year"),
]


@pytest.mark.parametrize(("birth", "reach18", "end18", "end15", "end6"), CASES)
def test_age_law_table_of_domain_md(birth, reach18, end18, end15, end6):
    b = pd.Series(pd.to_datetime([birth]))
    assert dates.date_reaching_age(b, 18).iloc[0] == pd.Timestamp(reach18)
    assert dates.school_year_end_after_age(b, 18).iloc[0] == pd.Timestamp(end18)
    assert dates.school_year_end_after_age(b, 15).iloc[0] == pd.Timestamp(end15)
    assert dates.school_year_end_after_age(b, 6).iloc[0] == pd.Timestamp(end6)


@pytest.mark.parametrize(("birth", "on", "age"), [
    pytest.param("2008-02-29", "2009-02-27", 0, id="Feb 29 birth is not yet 1 on Feb 27"),
    pytest.param("2008-02-29", "2009-02-28", 1, id="Feb 29 birth is 1 at the end of Feb 28 (参議院法制局)"),
    pytest.param("2010-05-10", "2016-05-08", 5, id="two days before the 6th birthday"),
    pytest.param("2010-05-10", "2016-05-09", 6, id="the day before the 6th birthday: age 6 is reached"),
    pytest.param("2010-05-10", "2016-05-10", 6, id="the birthday itself"),
])
def test_age_on(birth, on, age):
    assert dates.age_on(pd.Series(pd.to_datetime([birth])), pd.Timestamp(on)).iloc[0] == age


def test_missing_birth_dates_stay_missing():
    b = pd.Series(pd.to_datetime(["2010-01-01", None]))
    assert dates.school_year_end_after_age(b, 18).isna().tolist() == [False, True]


def test_month_bounds():
    assert dates.month_bounds("2024-02") == (pd.Timestamp("2024-02-01"), pd.Timestamp("2024-02-29"))
