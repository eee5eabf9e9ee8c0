/* Fuzz target: translation of a Gemini generateContent answer (outside input), as a success
 * body and as an error body. */
#define FUZZ_WIRE     WORKER_WIRE_GEMINI
#define FUZZ_STATUSES 200, 400, 403, 429, 503
#include "fuzz_wire_response.h"
