"""Harbor's q and sort language, with the cases of Harbor's own builder_test.go."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.query import AllOf, AnyOf, Fuzzy, QueryInvalid, Range, Sort, parse_query, parse_sort


def test_values_of_every_kind():
    assert parse_query("k=v") == {"k": "v"}
    assert parse_query("name=~app,size=[1~2],tags={a b},labels=(1 2)") == {
        "name": Fuzzy("app"), "size": Range(1, 2), "tags": AnyOf(("a", "b")), "labels": AllOf((1, 2))}
    assert parse_query(r"k=\~literal") == {"k": "~literal"}
    assert parse_query("push_time=[2020-03-04T17:08:23~]") == {"push_time": Range(datetime(2020, 3, 4, 17, 8, 23), None)}
    assert parse_query("k=[~2]") == {"k": Range(None, 2)}
    assert parse_query("k={}") == {"k": AnyOf(())} and parse_query("k=()") == {"k": AllOf(())}
    assert parse_query("""k={"quoted" 'single' 3}""") == {"k": AnyOf(("quoted", "single", 3))}
    assert parse_query("tags%3Dnil") == {"tags": "nil"}  # escaped once more, as Harbor does
    assert parse_query("k=}{") == {"k": "}{"}  # only a leading ~ [ { ( is special
    assert parse_query("") == {} and parse_query(None) == {}


@pytest.mark.parametrize("q", [",", "k", "=v", "k=", "k=~", "k=[", "k=[]", "k=[~]", "k=[~~]", "k=[1~2~3]",
                               "k={1", "k=(1", "a=1,,b=2"])
def test_malformed_queries_get_harbors_message(q):
    with pytest.raises(QueryInvalid) as error:
        parse_query(q)
    assert str(error.value).startswith(("the query string must contain", "invalid query string value"))


def test_sorting():
    assert parse_sort("name,-creation_time") == [Sort("name", False), Sort("creation_time", True)]
    assert parse_sort("") == [] and parse_sort(None) == []


def test_integers_are_only_plain_int64_digits():
    assert parse_query("k=[9223372036854775807~]") == {"k": Range(9223372036854775807, None)}
    assert parse_query("k={9223372036854775808 1_0 ٣}") == {"k": AnyOf(("9223372036854775808", "1_0", "٣"))}


@given(st.text(max_size=200))
def test_parsing_fails_only_with_query_invalid(text):
    try:
        parse_query(text)
    except QueryInvalid:
        pass


def test_keys_a_list_does_not_know_are_dropped_but_still_parsed():
    assert parse_query("name=~a,bogus=1", {"name"}) == {"name": Fuzzy("a")}
    assert parse_sort("-creation_time,name,-bogus", {"name", "op_time"}) == [Sort("name", False)]
    assert parse_sort("-creation_time", {"op_time"}) == []
    with pytest.raises(QueryInvalid):
        parse_query("bogus=[1~", {"name"})  # an unparsable q is refused whatever its keys
