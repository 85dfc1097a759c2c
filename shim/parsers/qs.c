/* qs.c: streaming query-string splitter; see qs.h for the contract.
 *
 * State between chunks is two values:
 *   matched   how many leading bytes of the separator ended the last chunk
 *             (0 .. sep_len-1). Those bytes are not lost: they equal sep[0..matched).
 *   in_value  whether the current field has passed its first '='.
 *
 * Input            matched == 0                      matched == k > 0
 * ---------------  --------------------------------  ---------------------------------
 * sep[0]/sep[k]    k = 1 (or field ends if 1 byte)   k += 1; field ends at sep_len
 * other byte       field data (memchr skips ahead)   mismatch: sep[0] is data, and
 *                                                    sep[1..k) is scanned again, as
 *                                                    str.split restarts one byte on
 * end of input     field ends (if input non-empty)   flush as for a mismatch, then end
 *
 * Field data goes to on_name until the first '=', then to on_value.
 */
#include "qs.h"

#include <string.h>

static cgih_qs_status fail(cgih_qs_parser *p, const char *msg)
{
    if (!p->error) {
        p->error = 1;
        p->errmsg = msg;
        p->errpos = p->offset;
    }
    return CGIH_QS_ERROR;
}

int cgih_qs_init(cgih_qs_parser *p, const cgih_qs_settings *s, const char *sep, size_t sep_len)
{
    memset(p, 0, sizeof *p);
    if (sep_len == 0 || sep_len > CGIH_QS_SEP_MAX)
        return -1;
    p->settings = s;
    memcpy(p->sep, sep, sep_len);
    p->sep_len = sep_len;
    return 0;
}

/* Field bytes confirmed not to belong to a separator. Returns -1 on error. */
static int field_data(cgih_qs_parser *p, const char *at, size_t n)
{
    const cgih_qs_settings *s = p->settings;
    if (n == 0)
        return 0;
    p->field_len += n;
    if (s->max_field_bytes && p->field_len > s->max_field_bytes) {
        fail(p, "field too long");
        return -1;
    }
    if (!p->in_value) {
        const char *eq = memchr(at, '=', n);
        size_t nlen = eq ? (size_t)(eq - at) : n;
        if (nlen && s->on_name && s->on_name(p, at, nlen)) {
            fail(p, "callback failed");
            return -1;
        }
        if (!eq)
            return 0;
        p->in_value = 1;
        p->field_has_eq = 1;
        at = eq + 1;
        n -= nlen + 1;
    }
    if (n && s->on_value && s->on_value(p, at, n)) {
        fail(p, "callback failed");
        return -1;
    }
    return 0;
}

/* at_sep: a separator ended the field, so one more field will follow; the
 * limit trips as soon as that is certain. */
static int field_end(cgih_qs_parser *p, int at_sep)
{
    const cgih_qs_settings *s = p->settings;
    p->nfields++;
    if (s->max_fields && p->nfields + (at_sep ? 1 : 0) > s->max_fields) {
        fail(p, "too many fields");
        return -1;
    }
    if (s->on_field_end && s->on_field_end(p)) {
        fail(p, "callback failed");
        return -1;
    }
    p->in_value = 0;
    p->field_has_eq = 0;
    p->field_len = 0;
    return 0;
}

/* The partial separator match of k bytes failed: sep[0] is data and the scan
 * restarts at sep[1]. */
static int scan(cgih_qs_parser *p, const char *buf, size_t len, int input);

static int unmatch(cgih_qs_parser *p)
{
    size_t k = p->matched;
    p->matched = 0;
    if (field_data(p, p->sep, 1))
        return -1;
    return scan(p, p->sep + 1, k - 1, 0);
}

/* Scans buf; input says whether these are caller bytes (counted in offset) or a
 * replay of the separator copy. */
static int scan(cgih_qs_parser *p, const char *buf, size_t len, int input)
{
    size_t i = 0;
    while (i < len) {
        if (p->matched) {
            if (buf[i] == p->sep[p->matched]) {
                i++;
                if (input)
                    p->offset++;
                if (++p->matched == p->sep_len) {
                    p->matched = 0;
                    if (field_end(p, 1))
                        return -1;
                }
            } else if (unmatch(p)) {
                return -1;
            }
            continue;
        }
        const char *q = memchr(buf + i, p->sep[0], len - i);
        size_t run = q ? (size_t)(q - (buf + i)) : len - i;
        if (field_data(p, buf + i, run))
            return -1;
        i += run;
        if (input)
            p->offset += run;
        if (!q)
            break;
        i++;
        if (input)
            p->offset++;
        if (p->sep_len == 1) {
            if (field_end(p, 1))
                return -1;
        } else {
            p->matched = 1;
        }
    }
    return 0;
}

cgih_qs_status cgih_qs_execute(cgih_qs_parser *p, const char *buf, size_t len)
{
    if (p->error)
        return CGIH_QS_ERROR;
    return scan(p, buf, len, 1) ? CGIH_QS_ERROR : CGIH_QS_OK;
}

cgih_qs_status cgih_qs_finish(cgih_qs_parser *p)
{
    if (p->error)
        return CGIH_QS_ERROR;
    while (p->matched) /* a replay can leave a shorter partial match */
        if (unmatch(p))
            return CGIH_QS_ERROR;
    if (p->offset > 0 && field_end(p, 0))
        return CGIH_QS_ERROR;
    return CGIH_QS_OK;
}

const char *cgih_qs_errmsg(const cgih_qs_parser *p)
{
    return p->error ? p->errmsg : NULL;
}

uint64_t cgih_qs_errpos(const cgih_qs_parser *p)
{
    return p->errpos;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t cgih_qs_unquote(char *buf, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        unsigned char c = (unsigned char)buf[r];
        if (c == '+') {
            buf[w++] = ' ';
            r++;
        } else if (c == '%' && r + 2 < len && hexval((unsigned char)buf[r + 1]) >= 0 && hexval((unsigned char)buf[r + 2]) >= 0) {
            buf[w++] = (char)(hexval((unsigned char)buf[r + 1]) * 16 +
                              hexval((unsigned char)buf[r + 2]));
            r += 3;
        } else {
            buf[w++] = (char)c;
            r++;
        }
    }
    return w;
}

size_t cgih_qs_run(const char *s, size_t len, int *ascii)
{
    size_t i = 0;
    if (len == 0) {
        *ascii = 1;
        return 0;
    }
    *ascii = ((unsigned char)s[0] < 0x80);
    while (i < len && (((unsigned char)s[i] < 0x80) == *ascii))
        i++;
    return i;
}
