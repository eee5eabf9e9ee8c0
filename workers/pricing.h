/* workers/pricing.h — what a call cost, from a versioned price table.
 *
 * The table shipped with llmq (workers/prices.json, compiled in) lists input and output
 * prices per million tokens and the context window per model; a file named by the
 * setting pricing.file (same format) overrides and extends it. A model matches its own
 * entry or, failing that, the longest entry it extends with "-..." (a dated snapshot such
 * as gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini); an "endpoint:" or "vendor/" prefix
 * is ignored. A model not in the table has no price: its cost is null, never zero. */
#ifndef LQ_WORKER_PRICING_H
#define LQ_WORKER_PRICING_H

#include <stddef.h>
#include <stdint.h>

typedef struct pricing pricing_t;

/** The compiled-in table, overridden by override_json when not NULL. */
pricing_t *pricing_load(const char *override_json, char *errstr, size_t errstr_size);
void pricing_free(pricing_t *p);
const char *pricing_version(const pricing_t *p);

/** 1 and *usd when the model has a price, else 0. */
int pricing_cost(const pricing_t *p, const char *model, int64_t prompt_tokens,
                 int64_t completion_tokens, double *usd);
/** Call fn for each model of the table. */
void pricing_foreach(const pricing_t *p, void (*fn)(const char *model, void *arg), void *arg);

/** The context window in tokens, or 0 when unknown. */
int64_t pricing_context(const pricing_t *p, const char *model);

#endif
