/* The streaming JSON writer: structure, commas, escaping, invalid UTF-8, and that its
 * output always parses (checked with jansson, an independent parser). */
#include <jansson.h>

#include "common/jsonw.h"
#include "testutil.h"

static json_t *parse(const lq_jsonw_t *w)
{
    json_error_t e;
    json_t *v = json_loads(w->p, 0, &e);
    if (!v)
        fprintf(stderr, "not JSON (%s): %s\n", e.text, w->p);
    return v;
}

int main(void)
{
    lq_jsonw_t w;
    json_t *v;
    char bad[] = {'a', (char)0xff, 'b', (char)0xc3, (char)0xa9, (char)0xe2, (char)0x82, 0};

    lq_jsonw_init(&w);
    lq_jsonw_obj_open(&w);
    lq_jsonw_kstr(&w, "s", "quote\" backslash\\ newline\n tab\t ctrl\x01 é");
    lq_jsonw_kint(&w, "i", -42);
    lq_jsonw_kint_or_null(&w, "n", 0);
    lq_jsonw_kstr(&w, "null", NULL);
    lq_jsonw_key(&w, "arr");
    lq_jsonw_arr_open(&w);
    lq_jsonw_int(&w, 1);
    lq_jsonw_str(&w, "two");
    lq_jsonw_obj_open(&w);
    lq_jsonw_obj_close(&w);
    lq_jsonw_arr_open(&w);
    lq_jsonw_arr_close(&w);
    lq_jsonw_double(&w, 0.25);
    lq_jsonw_bool(&w, 1);
    lq_jsonw_raw(&w, "{\"x\":[1]}");
    lq_jsonw_arr_close(&w);
    lq_jsonw_kstr(&w, "bad", bad);
    lq_jsonw_obj_close(&w);
    CHECK(!w.failed);
    CHECK_INT(w.depth, 0);
    v = parse(&w);
    CHECK(v != NULL);
    if (v) {
        CHECK_STR(json_string_value(json_object_get(v, "s")),
                  "quote\" backslash\\ newline\n tab\t ctrl\x01 é");
        CHECK_INT(json_integer_value(json_object_get(v, "i")), -42);
        CHECK(json_is_null(json_object_get(v, "n")));
        CHECK(json_is_null(json_object_get(v, "null")));
        CHECK_INT(json_array_size(json_object_get(v, "arr")), 7);
        CHECK(json_real_value(json_array_get(json_object_get(v, "arr"), 4)) == 0.25);
        CHECK(json_is_true(json_array_get(json_object_get(v, "arr"), 5)));
        /* invalid bytes become U+FFFD; the valid é survives; a truncated sequence is replaced */
        CHECK_STR(json_string_value(json_object_get(v, "bad")),
                  "a\xef\xbf\xbd"
                  "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
        json_decref(v);
    }
    /* reset keeps the buffer and starts over */
    lq_jsonw_reset(&w);
    lq_jsonw_arr_open(&w);
    lq_jsonw_arr_close(&w);
    CHECK_STR(w.p, "[]");
    /* misuse is reported, not written past */
    lq_jsonw_reset(&w);
    lq_jsonw_obj_close(&w);
    CHECK(w.failed);
    /* a large array grows the buffer */
    {
        int i;
        lq_jsonw_reset(&w);
        lq_jsonw_arr_open(&w);
        for (i = 0; i < 100000; i++)
            lq_jsonw_str(&w, "row");
        lq_jsonw_arr_close(&w);
        v = parse(&w);
        CHECK(v && json_array_size(v) == 100000);
        json_decref(v);
    }
    lq_jsonw_free(&w);
    TEST_DONE();
}
