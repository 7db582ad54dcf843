/* fuzz_numfmt.c - libFuzzer harness: an Excel number format code and a value through office_format_number.
 *
 * The first 8 bytes are the double (any bit pattern: NaN, infinities,
 * subnormals, huge dates), the ninth picks the 1904 date system, the rest is
 * the format code as a workbook's styles.xml would carry it. The result must
 * be valid UTF-8 when the code is, and bounded in length.
 */
#include "common/common.h"
#include "ingest/office.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 9)
        return 0;
    double v;
    memcpy(&v, data, sizeof v);
    bool d1904 = data[8] & 1;
    char *code = dq_strndup((const char *)data + 9, size - 9);
    char *s = office_format_number(v, code, d1904);
    size_t n = strlen(s);
    if ((utf8_valid(code, strlen(code)) && !utf8_valid(s, n)) || n > 4 * strlen(code) + 1024)
        abort();
    free(s);
    free(code);
    return 0;
}
