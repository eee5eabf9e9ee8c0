/* ingest/path_match.h — route tables: a path matched against patterns such as
 * "/admin/v1/tenants/{tenant}/keys/{id}", and the answer a table gives for a path it does
 * not have (404) or has with other methods (405 and the methods for Allow). Both the API's
 * table (routes.c) and the admin API's (admin_routes.c) are looked up here, so both answer
 * the same way. */
#ifndef LQ_INGEST_PATH_MATCH_H
#define LQ_INGEST_PATH_MATCH_H

#include <stddef.h>

#define INGEST_PATH_MAX_PARAMS 4
#define INGEST_PATH_PARAM_MAX  256 /* a longer segment matches no {name} */

typedef struct ingest_path_params {
    int n;
    char name[INGEST_PATH_MAX_PARAMS][32];
    char value[INGEST_PATH_MAX_PARAMS][INGEST_PATH_PARAM_MAX];
} ingest_path_params_t;

/* The first member of every row of a route table. */
typedef struct ingest_route_key {
    const char *method;  /* "GET", "POST", ...; "*" = any */
    const char *pattern; /* literal segments; {name}: one non-empty segment; a last {*}: the rest */
} ingest_route_key_t;

#define INGEST_ROUTE_NOT_FOUND  (-1) /* no row has the path: 404 */
#define INGEST_ROUTE_BAD_METHOD (-2) /* rows have the path, none the method: 405 */

/** Find method + path among n rows of stride bytes (each starting with an ingest_route_key_t).
 * Returns the row's index, or INGEST_ROUTE_NOT_FOUND, or INGEST_ROUTE_BAD_METHOD with the
 * methods the path has in allow ("GET, POST"). *params: the segments the pattern named (of
 * the first row with the path when the method is wrong). */
int ingest_route_find(const void *rows, size_t n, size_t stride, const char *method,
                      const char *path, ingest_path_params_t *params, char *allow,
                      size_t allow_size);

/** The value of {name}, or NULL. */
const char *ingest_path_param(const ingest_path_params_t *p, const char *name);

/** 0 when path holds a byte that could cut or confuse it: a control byte or DEL (which is what
 * a %00 becomes, see ingest_http_unescape). Such a path is no route. */
int ingest_path_is_clean(const char *path);

#endif
