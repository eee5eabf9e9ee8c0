#include "testutil.h"
int main(void) { TEST_DONE(); }
