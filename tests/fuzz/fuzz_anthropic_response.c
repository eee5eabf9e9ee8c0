/* Fuzz target: translation of an Anthropic Messages answer (outside input), as a success body
 * and as an error body. */
#define FUZZ_WIRE     WORKER_WIRE_ANTHROPIC
#define FUZZ_STATUSES 200, 400, 429, 500, 529
#include "fuzz_wire_response.h"
