/* office_numfmt.c - a number as a spreadsheet cell shows it, from Excel's number format code.
 *
 * Excel stores numbers and dates as doubles and the format separately; what
 * a reader searches for is what the cell shows ("2024年3月15日", "¥1,280.00",
 * "12.5%"), so the common parts of the format language are rendered: up to
 * three sections (positive;negative;zero), quoted and escaped literals,
 * [$¥-804] currency tags (other [..] tags dropped), digit placeholders with
 * thousands separators and decimals, percent, scientific notation, and date
 * and time tokens (y m d h s, AM/PM and 上午/下午) over the 1900 or 1904
 * date system. Fractions and text sections fall back to the General form.
 */
#include "ingest/office.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *office_builtin_format(int id)
{
    switch (id) {
    case 1: return "0";
    case 2: return "0.00";
    case 3: case 5: case 6: case 37: case 38: return "#,##0";
    case 4: case 7: case 8: case 39: case 40: return "#,##0.00";
    case 9: return "0%";
    case 10: return "0.00%";
    case 11: case 48: return "0.00E+00";
    case 14: return "yyyy/m/d";
    case 15: return "d-mmm-yy";
    case 16: return "d-mmm";
    case 17: return "mmm-yy";
    case 18: return "h:mm AM/PM";
    case 19: return "h:mm:ss AM/PM";
    case 20: return "h:mm";
    case 21: return "h:mm:ss";
    case 22: return "yyyy/m/d h:mm";
    case 27: case 36: case 50: case 52: case 57: return "yyyy\"年\"m\"月\"";
    case 28: case 29: case 51: case 53: case 54: case 58: return "m\"月\"d\"日\"";
    case 30: return "m-d-yy";
    case 31: return "yyyy\"年\"m\"月\"d\"日\"";
    case 32: return "h\"时\"mm\"分\"";
    case 33: return "h\"时\"mm\"分\"ss\"秒\"";
    case 34: case 55: return "上午/下午h\"时\"mm\"分\"";
    case 35: case 56: return "上午/下午h\"时\"mm\"分\"ss\"秒\"";
    case 45: return "mm:ss";
    case 46: return "h:mm:ss";
    default: return NULL;
    }
}

static void general(dq_buf *b, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        dq_buf_printf(b, "%.0f", v);
        return;
    }
    char s[64];
    snprintf(s, sizeof s, "%.11g", v);
    dq_buf_puts(b, s);
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil_from_days(long long z, int *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Copies the literal at *p (quoted text, \x, a currency tag; padding and
 * fill are skipped) to b (NULL: nowhere) and advances past it; false when
 * *p is not one. */
static bool literal(const char **p, dq_buf *b)
{
    const char *s = *p;
    if (*s == '"') {
        const char *e = strchr(s + 1, '"');
        size_t n = e ? (size_t)(e - s - 1) : strlen(s + 1);
        if (b)
            dq_buf_append(b, s + 1, n);
        *p = s + 1 + n + (e != NULL);
        return true;
    }
    if (*s == '\\' && s[1]) {
        unsigned char lead = (unsigned char)s[1];
        size_t len = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        len = strnlen(s + 1, len);
        if (b)
            dq_buf_append(b, s + 1, len);
        *p = s + 1 + len;
        return true;
    }
    if (*s == '[' && strchr("hHmMsS", s[1])) {
        /* [h]:mm:ss, elapsed time: the bracket goes, the token stays */
        *p = s + 1;
        return true;
    }
    if (*s == ']') {
        *p = s + 1;
        return true;
    }
    if (*s == '[') {
        const char *e = strchr(s, ']');
        if (s[1] == '$' && e && b) {
            const char *dash = memchr(s + 2, '-', (size_t)(e - s - 2));
            dq_buf_append(b, s + 2, (size_t)((dash ? dash : e) - s - 2));
        }
        *p = e ? e + 1 : s + strlen(s);
        return true;
    }
    if (*s == '_' || *s == '*') { /* padding and fill: the next character is not shown */
        *p = s + (s[1] ? 2 : 1);
        while ((**p & 0xC0) == 0x80)
            (*p)++;
        return true;
    }
    return false;
}

static bool is_date_format(const char *s)
{
    for (const char *p = s; *p;) {
        if (literal(&p, NULL))
            continue;
        char c = (char)tolower((unsigned char)*p);
        if ((c == 'e') && (p[1] == '+' || p[1] == '-'))
            return false;
        if (c == 'y' || c == 'm' || c == 'd' || c == 'h' || c == 's')
            return true;
        if (!strncmp(p, "上午/下午", 13))
            return true;
        p++;
    }
    return false;
}

static int run_of(const char *p, char c)
{
    int n = 0;
    while (tolower((unsigned char)p[n]) == c)
        n++;
    return n;
}

static void format_date(dq_buf *b, double v, const char *s, bool date1904)
{
    static const char *const months[] = {"January", "February", "March",     "April",
                                         "May",     "June",     "July",      "August",
                                         "September", "October", "November", "December"};
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    double days_total = floor(v); /* for elapsed [h], before the calendar fix below */
    if (!date1904 && v < 61)
        v += 1; /* Excel counts a 29 February 1900 that never was */
    double whole = floor(v);
    long secs = lround((v - whole) * 86400.0);
    long long day = (long long)whole + (secs >= 86400);
    secs %= 86400;
    long long epoch = date1904 ? -24107 : -25569; /* 1904-01-01, 1899-12-30 from 1970 */
    long long z = day + epoch;
    int y, mo, d;
    civil_from_days(z, &y, &mo, &d);
    int wd = (int)(((z % 7) + 11) % 7);
    int hh = (int)(secs / 3600), mi = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    bool ampm = strstr(s, "AM/PM") || strstr(s, "am/pm") || strstr(s, "上午/下午");
    /* [h] counts every hour since the start, not the hour of the day */
    bool elapsed = strstr(s, "[h") || strstr(s, "[H");
    bool after_h = false;
    for (const char *p = s; *p;) {
        if (!strncmp(p, "AM/PM", 5) || !strncmp(p, "am/pm", 5)) {
            dq_buf_puts(b, hh < 12 ? "AM" : "PM");
            p += 5;
            continue;
        }
        if (!strncmp(p, "上午/下午", 13)) {
            dq_buf_puts(b, hh < 12 ? "上午" : "下午");
            p += 13;
            continue;
        }
        if (literal(&p, b))
            continue;
        char c = (char)tolower((unsigned char)*p);
        int n = run_of(p, c);
        switch (c) {
        case 'y':
            dq_buf_printf(b, n <= 2 ? "%02d" : "%d", n <= 2 ? y % 100 : y);
            break;
        case 'd':
            if (n >= 4)
                dq_buf_puts(b, days[wd]);
            else if (n == 3)
                dq_buf_printf(b, "%.3s", days[wd]);
            else
                dq_buf_printf(b, n == 2 ? "%02d" : "%d", d);
            break;
        case 'h': {
            long long h = ampm ? (hh % 12 ? hh % 12 : 12) : hh;
            if (elapsed)
                h = (long long)days_total * 24 + hh;
            dq_buf_printf(b, n >= 2 ? "%02lld" : "%lld", h);
            after_h = true;
            p += n;
            continue;
        }
        case 's':
            dq_buf_printf(b, n >= 2 ? "%02d" : "%d", ss);
            break;
        case 'm': {
            /* Minutes after an hour or before seconds, else the month. */
            const char *q = p + n;
            while (*q && strchr(" :\"", *q))
                q++;
            bool minute = n <= 2 && (after_h || tolower((unsigned char)*q) == 's');
            if (minute)
                dq_buf_printf(b, n == 2 ? "%02d" : "%d", mi);
            else if (n >= 5)
                dq_buf_printf(b, "%.1s", months[mo - 1]);
            else if (n == 4)
                dq_buf_puts(b, months[mo - 1]);
            else if (n == 3)
                dq_buf_printf(b, "%.3s", months[mo - 1]);
            else
                dq_buf_printf(b, n == 2 ? "%02d" : "%d", mo);
            break;
        }
        case '.':
            /* fractional seconds ("ss.0") are not shown to the second */
            p++;
            while (*p == '0')
                p++;
            continue;
        default:
            dq_buf_putc(b, *p);
            p++;
            continue;
        }
        after_h = after_h && c != 'y' && c != 'd';
        p += n;
    }
}

/* Inserts ',' every three digits of the integer part of digits. */
static void group_thousands(dq_buf *b, const char *digits)
{
    const char *dot = strchr(digits, '.');
    size_t ilen = dot ? (size_t)(dot - digits) : strlen(digits);
    for (size_t i = 0; i < ilen; i++) {
        if (i && (ilen - i) % 3 == 0)
            dq_buf_putc(b, ',');
        dq_buf_putc(b, digits[i]);
    }
    if (dot)
        dq_buf_puts(b, dot);
}

static void format_numeric(dq_buf *b, double v, const char *s, bool neg_sign)
{
    /* The placeholders: where they start and end, and what they ask for. */
    const char *first = NULL, *last = NULL;
    int int_zeros = 0, dec_min = 0, dec_max = 0, percent = 0;
    bool thousands = false, in_dec = false, sci = false;
    for (const char *p = s; *p;) {
        if (literal(&p, NULL))
            continue;
        char c = *p;
        if (c == '0' || c == '#' || c == '?') {
            if (!first)
                first = p;
            last = p;
            if (sci) {
                /* exponent digits: printf's two are what Excel shows */
            } else if (in_dec) {
                dec_max++;
                dec_min += c == '0';
            } else {
                int_zeros += c == '0';
            }
        } else if (c == '.' && first && !sci) {
            in_dec = true;
            last = p;
        } else if (c == ',' && first && !in_dec) {
            thousands = true;
        } else if (c == '%') {
            percent++;
        } else if ((c == 'E' || c == 'e') && (p[1] == '+' || p[1] == '-')) {
            sci = true;
            last = p + 1;
            p++;
        } else if (c == '/') {
            general(b, v);
            return;
        }
        p++;
    }
    if (!first) { /* only literals: the section shows itself */
        for (const char *p = s; *p;)
            if (!literal(&p, b))
                dq_buf_putc(b, *p++);
        return;
    }
    double a = fabs(v);
    for (int i = 0; i < percent; i++)
        a *= 100;
    char num[400];
    if (sci)
        snprintf(num, sizeof num, "%.*E", dec_max, a);
    else
        snprintf(num, sizeof num, "%.*f", dec_max, a);
    /* '#' decimals are shown only where they are not trailing zeros. */
    char *dot = strchr(num, '.');
    if (dot && !sci) {
        char *end = num + strlen(num);
        while (end > dot + 1 + dec_min && end[-1] == '0')
            *--end = '\0';
        if (end == dot + 1)
            *dot = '\0';
    }
    if (!sci && int_zeros == 0 && !strncmp(num, "0", 1) && num[1] != '\0')
        memmove(num, num + 1, strlen(num));
    else if (!sci && int_zeros == 0 && !strcmp(num, "0"))
        num[0] = '\0';
    /* prefix, the number, suffix */
    for (const char *p = s; p < first;)
        if (!literal(&p, b))
            dq_buf_putc(b, *p++);
    if (neg_sign && v < 0 && strtod(num, NULL) != 0)
        dq_buf_putc(b, '-');
    if (thousands && !sci)
        group_thousands(b, num);
    else
        dq_buf_puts(b, num);
    const char *p = last + 1;
    while (*p && (strchr("0#?.,", *p) || isdigit((unsigned char)*p)))
        p++;
    while (*p)
        if (!literal(&p, b))
            dq_buf_putc(b, *p++);
}

char *office_format_number(double v, const char *code, bool date1904)
{
    dq_buf b = DQ_BUF_INIT;
    if (!isfinite(v) || !code || !*code || !strcasecmp(code, "General") || !strcmp(code, "@")) {
        general(&b, v);
        return dq_buf_take(&b);
    }
    /* Sections split at ';' outside quotes and brackets. */
    char *copy = dq_strdup(code);
    char *sect[4] = {copy, NULL, NULL, NULL};
    int n = 1;
    char quote = 0;
    for (char *p = copy; *p && n < 4; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '"' || *p == '[') {
            quote = *p == '[' ? ']' : '"';
        } else if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == ';') {
            *p = '\0';
            sect[n++] = p + 1;
        }
    }
    const char *s = sect[0];
    bool neg_sign = true;
    if (v < 0 && n >= 2 && sect[1][0]) {
        s = sect[1];
        neg_sign = false;
    } else if (v == 0 && n >= 3 && sect[2][0]) {
        s = sect[2];
    }
    if (!strcasecmp(s, "General"))
        general(&b, v);
    else if (is_date_format(s) && v >= 0 && v < 2958466) /* Excel's dates end in 9999 */
        format_date(&b, v, s, date1904);
    else if (is_date_format(s))
        general(&b, v); /* Excel shows ##### */
    else
        format_numeric(&b, v, s, neg_sign);
    free(copy);
    return dq_buf_take(&b);
}
