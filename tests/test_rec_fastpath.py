"""The recommendations hot path dumps without marshmallow: it must equal the schema's dump."""

from service.common import page_of
from service.recommendations import RecPage, dump_rec_page, related_titles


def test_lean_dump_equals_schema_dump(app, client, seeded):
    for film_id, query, page, size, lang in [("love-911", "", 1, 5, "en"),
                                             ("love-911", "&page=2", 2, 5, "de")]:
        with app.test_request_context():
            data = related_titles(film_id, lang, frozenset(), (page - 1) * size, page * size)
            body = {**data, **page_of(data["results"], page, size, data.pop("total"))}
            expected = RecPage().dump(body)
        assert dump_rec_page(body) == expected
        resp = client.get(f"/api/v1/films/{film_id}/recommendations?limit={size}&lang={lang}{query}")
        assert resp.status_code == 200
        assert resp.get_json() == expected
        assert list(resp.get_json()) == list(expected)  # same key order
        assert expected["results"] and expected["results"][0]["reasons"]
