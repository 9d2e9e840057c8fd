/*
 * Heap dumps.  Writing streams the snapshot out in passes over its arrays
 * (nodes, targets, labels, roots, ...) through one FILE buffer, each
 * section checksummed as it goes; only the strings (type names, labels,
 * reprs: deduplicated, except the literals of str, int and float objects,
 * which are almost all distinct) are kept in memory until the end.  The
 * header, with the section table, is written last at offset 0.
 * dump_read.c reads them back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "clock.h"
#include "dump.h"
#include "module.h"
#include "module_analysis.h"
#include "pyinternal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "refscope dumps are little-endian; this writer maps structs directly"
#endif

_Static_assert(sizeof(rs_dump_header) == 600, "dump header layout");
_Static_assert(sizeof(rs_dump_node) == 32, "dump node layout");
_Static_assert(sizeof(rs_dump_node_v1) == 40, "dump node layout, version 1");
_Static_assert(sizeof(rs_dump_big_size) == 16, "dump big size layout");
_Static_assert(sizeof(rs_dump_thread) == 24, "dump thread layout");

/* Bounds of what a dump stores per object. */
#define REPR_MAX 80         /* characters of a repr */
#define STRING_REPR_MAX 200 /* characters of a str/bytes repr */
#define KEY_REPR_MAX 40       /* characters of a dict key's repr in a label, as label.c */

/* --- CRC-32 (IEEE 802.3, reflected), table built once --------------------- */

/* Slicing by 16: crc_table[k][b] is the CRC of byte b followed by k zero
 * bytes, so sixteen bytes cost sixteen independent lookups and no loop per
 * bit or byte. */
#define CRC_SLICES 16
static uint32_t crc_table[CRC_SLICES][256];

/* Where the CPU multiplies without carries (PCLMULQDQ, asked at run time),
 * long runs are folded 64 bytes a step instead (crc_fold()). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CRC_FOLDING 1
static int crc_has_pclmul, crc_has_vpclmul;
#endif

static void crc_init(void)
{
    if (crc_table[0][1] != 0)
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < CRC_SLICES; k++)
            crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
#ifdef CRC_FOLDING
    __builtin_cpu_init();
    crc_has_pclmul = __builtin_cpu_supports("pclmul");
    crc_has_vpclmul = crc_has_pclmul && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
#endif
}

/* The table lookups of the four bytes of word, the first at slice top. */
#define CRC_WORD(word, top)                                                                              \
    (crc_table[(top)][(word) & 0xff] ^ crc_table[(top) - 1][((word) >> 8) & 0xff] ^                    \
     crc_table[(top) - 2][((word) >> 16) & 0xff] ^ crc_table[(top) - 3][(word) >> 24])

/* The CRC register (not inverted) after p[len], starting from reg. */
static uint32_t crc_table_update(uint32_t reg, const unsigned char *p, size_t len)
{
    for (; len >= 16; p += 16, len -= 16) {
        uint32_t word[4]; /* little-endian, as the file (asserted above) */
        memcpy(word, p, sizeof word);
        word[0] ^= reg;
        reg = CRC_WORD(word[0], 15) ^ CRC_WORD(word[1], 11) ^ CRC_WORD(word[2], 7) ^ CRC_WORD(word[3], 3);
    }
    for (; len > 0; p++, len--)
        reg = crc_table[0][(reg ^ *p) & 0xff] ^ (reg >> 8);
    return reg;
}

#ifdef CRC_FOLDING
/* One 128-bit lane moved forward over the bits k stands for (carry-less
 * multiplication of each half by its constant), xor next. */
__attribute__((target("pclmul"))) static inline __m128i crc_fold_lane(__m128i lane, __m128i k, __m128i next)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00), _mm_clmulepi64_si128(lane, k, 0x11)),
                         next);
}

/* The register after blocks 64-byte blocks at p, starting from reg:
 * four lanes folded 512 bits a step, then into one 128-bit value that has
 * the message's remainder, whose 16 bytes the table finishes.  The
 * constants are x^(512+-32) and x^(128+-32) mod the polynomial, reflected;
 * tests check the result against zlib.crc32. */
__attribute__((target("pclmul"))) static uint32_t crc_fold(uint32_t reg, const unsigned char *p, size_t blocks)
{
    const __m128i by_512 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
    const __m128i by_128 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
    __m128i lane[4];
    for (int i = 0; i < 4; i++)
        lane[i] = _mm_loadu_si128((const __m128i *)(p + 16 * i));
    lane[0] = _mm_xor_si128(lane[0], _mm_cvtsi32_si128((int)reg));
    for (size_t b = 1; b < blocks; b++) {
        p += 64;
        for (int i = 0; i < 4; i++)
            lane[i] = crc_fold_lane(lane[i], by_512, _mm_loadu_si128((const __m128i *)(p + 16 * i)));
    }
    for (int i = 1; i < 4; i++)
        lane[0] = crc_fold_lane(lane[0], by_128, lane[i]);
    unsigned char rest[16];
    _mm_storeu_si128((__m128i *)rest, lane[0]);
    return crc_table_update(0, rest, sizeof rest);
}

/* crc_fold() four lanes of 512 bits at a time where the CPU multiplies
 * without carries in 512-bit registers (VPCLMULQDQ): blocks 256-byte
 * blocks, sixteen 128-bit lanes each moved forward 2048 bits a step (the
 * constants are x^(2048+-32) mod the polynomial, reflected), and the 256
 * bytes left are the message whose CRC crc_fold() takes from 0.  Three
 * times crc_fold()'s speed on data in the L2 cache (23 GB/s): the
 * checksums of a dump of 1M objects (67 MiB) took 8 ms with crc_fold(). */
__attribute__((target("pclmul,avx512f,vpclmulqdq"))) static uint32_t crc_fold_wide(uint32_t reg, const unsigned char *p,
                                                                                   size_t blocks)
{
    const __m512i by_2048 = _mm512_set_epi64(0x1322d1430, 0x11542778a, 0x1322d1430, 0x11542778a, 0x1322d1430,
                                             0x11542778a, 0x1322d1430, 0x11542778a);
    __m512i lane[4];
    for (int i = 0; i < 4; i++)
        lane[i] = _mm512_loadu_si512((const void *)(p + 64 * i));
    lane[0] = _mm512_xor_si512(lane[0], _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)reg)));
    for (size_t b = 1; b < blocks; b++) {
        p += 256;
        for (int i = 0; i < 4; i++)
            lane[i] = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(lane[i], by_2048, 0x00),
                                                _mm512_clmulepi64_epi128(lane[i], by_2048, 0x11),
                                                _mm512_loadu_si512((const void *)(p + 64 * i)), 0x96);
    }
    unsigned char rest[256];
    for (int i = 0; i < 4; i++)
        _mm512_storeu_si512((void *)(rest + 64 * i), lane[i]);
    return crc_fold(0, rest, 4);
}
#endif

int rs_dump_crc32_widest(void)
{
    crc_init();
#ifdef CRC_FOLDING
    return crc_has_vpclmul ? 2 : crc_has_pclmul ? 1 : 0;
#else
    return 0;
#endif
}

uint32_t rs_dump_crc32_using(uint32_t crc, const void *data, size_t len, int widest)
{
    crc_init();
    const unsigned char *p = data;
    uint32_t reg = ~crc;
#ifdef CRC_FOLDING
    if (len >= 1024 && widest >= 2 && crc_has_vpclmul) {
        size_t blocks = len / 256;
        reg = crc_fold_wide(reg, p, blocks);
        p += blocks * 256;
        len -= blocks * 256;
    }
    if (len >= 256 && widest >= 1 && crc_has_pclmul) {
        size_t blocks = len / 64;
        reg = crc_fold(reg, p, blocks);
        p += blocks * 64;
        len -= blocks * 64;
    }
#else
    (void)widest;
#endif
    return ~crc_table_update(reg, p, len);
}

uint32_t rs_dump_crc32(uint32_t crc, const void *data, size_t len)
{
    return rs_dump_crc32_using(crc, data, len, 2);
}

/* --- string pool: distinct strings, each once ----------------------------- */

typedef struct string_pool {
    char *bytes;
    size_t len, cap;
    uint64_t *offsets; /* offsets[id], plus the end */
    uint32_t count, offsets_cap;
    uint32_t hashed;   /* strings in the table (pool_append() adds none) */
    uint64_t *slots;   /* open addressing: hash << 32 | (id + 1), 0 = empty */
    size_t slot_count; /* power of two */
} string_pool;

/* A 32-bit hash of len bytes, eight at a time. */
static uint32_t hash_bytes(const char *text, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, text + i, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, text + i, len - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    return (uint32_t)(h ^ (h >> 29));
}

static void pool_free(string_pool *p)
{
    rs_free(p->bytes);
    rs_free(p->offsets);
    rs_free(p->slots);
    *p = (string_pool){0};
}

/* Probes of the string table and of the one-pass labeller's item table,
 * and strings appended without a probe, since the module loaded
 * (rs_dump_write_work(), for tests). */
static size_t pool_probes;

size_t rs_dump_write_work(void)
{
    return pool_probes;
}

/* Rehashes into at least want slots (a power of two, twice what it had
 * when want is 0).  0, or -1 when out of memory. */
static int pool_grow_slots(string_pool *p, size_t want)
{
    size_t n = p->slot_count ? p->slot_count * 2 : 1024;
    while (n < want)
        n *= 2;
    uint64_t *slots = rs_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t k = 0; k < p->slot_count; k++) {
        if (p->slots[k] == 0)
            continue;
        size_t i = (p->slots[k] >> 32) & (n - 1);
        while (slots[i] != 0)
            i = (i + 1) & (n - 1);
        slots[i] = p->slots[k];
    }
    rs_free(p->slots);
    p->slots = slots;
    p->slot_count = n;
    return 0;
}

/* Starts loading the table slot where text of that hash goes: the table
 * is far bigger than the caches, so pool_add_hashed() a little later finds
 * it there. */
static void pool_prefetch(const string_pool *p, uint32_t hash)
{
    if (p->slot_count != 0)
        __builtin_prefetch(&p->slots[hash & (p->slot_count - 1)]);
}

/* Room for a new string of up to len bytes at the pool's end, to write in
 * place and then pool_commit(); NULL on MemoryError. */
static char *pool_reserve(string_pool *p, size_t len)
{
    if (p->count + 2 > p->offsets_cap) {
        uint32_t cap = p->offsets_cap ? p->offsets_cap * 2 : 1024;
        uint64_t *offsets = rs_realloc(p->offsets, (size_t)cap * sizeof *offsets);
        if (offsets == NULL)
            return NULL;
        p->offsets = offsets;
        p->offsets_cap = cap;
        if (p->count == 0)
            p->offsets[0] = 0;
    }
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + len)
            cap *= 2;
        char *bytes = rs_realloc(p->bytes, cap);
        if (bytes == NULL)
            return NULL;
        p->bytes = bytes;
        p->cap = cap;
    }
    return p->bytes + p->len;
}

/* Makes the len bytes written at pool_reserve()'s address a new string,
 * not looked up nor entered in the table.  Its id. */
static uint32_t pool_commit(string_pool *p, size_t len)
{
    pool_probes++;
    p->len += len;
    uint32_t id = p->count++;
    p->offsets[id + 1] = p->len;
    return id;
}

/* Appends text as a new string, not looked up nor entered in the table
 * (texts that are almost all distinct: dict keys seen once).  Its id, or
 * RS_DUMP_NO_STRING on MemoryError. */
static uint32_t pool_append(string_pool *p, const char *text, size_t len)
{
    char *at = pool_reserve(p, len);
    if (at == NULL)
        return RS_DUMP_NO_STRING;
    memcpy(at, text, len);
    return pool_commit(p, len);
}

/* The id of text (of hash_bytes() hash) in the pool, adding it.
 * RS_DUMP_NO_STRING on MemoryError. */
static uint32_t pool_add_hashed(string_pool *p, const char *text, size_t len, uint32_t hash)
{
    if ((size_t)(p->hashed + 1) * 2 > p->slot_count && pool_grow_slots(p, 0) < 0)
        return RS_DUMP_NO_STRING;
    size_t mask = p->slot_count - 1, i = hash & mask;
    pool_probes++;
    for (; p->slots[i] != 0; i = (i + 1) & mask) {
        pool_probes++;
        if ((uint32_t)(p->slots[i] >> 32) != hash)
            continue;
        uint32_t id = (uint32_t)p->slots[i] - 1;
        if (p->offsets[id + 1] - p->offsets[id] == len && memcmp(p->bytes + p->offsets[id], text, len) == 0)
            return id;
    }
    pool_probes--; /* the append below counts as the last probe */
    uint32_t id = pool_append(p, text, len);
    if (id != RS_DUMP_NO_STRING) {
        p->slots[i] = (uint64_t)hash << 32 | (id + 1);
        p->hashed++;
    }
    return id;
}

/* The id of text in the pool, adding it.  RS_DUMP_NO_STRING on MemoryError. */
static uint32_t pool_add(string_pool *p, const char *text, size_t len)
{
    return pool_add_hashed(p, text, len, hash_bytes(text, len));
}

/* The id of a str; RS_DUMP_NO_STRING with an exception set on error. */
static uint32_t pool_add_str(string_pool *p, PyObject *text)
{
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &len);
    if (utf8 == NULL)
        return RS_DUMP_NO_STRING;
    uint32_t id = pool_add(p, utf8, (size_t)len);
    if (id == RS_DUMP_NO_STRING)
        PyErr_NoMemory();
    return id;
}

/* pool_add_str() of a new reference, which it releases (NULL: error passed on). */
static uint32_t pool_take(string_pool *p, PyObject *text)
{
    if (text == NULL)
        return RS_DUMP_NO_STRING;
    uint32_t id = pool_add_str(p, text);
    Py_DECREF(text);
    return id;
}

/* --- the writer: sections streamed through one FILE ----------------------- */

/* One remembered attribute label (attribute_code()). */
typedef struct attribute_entry {
    PyTypeObject *type;
    Py_ssize_t slot;
    PyObject *name; /* a strong reference */
    uint32_t code;
} attribute_entry;

#define ATTRIBUTE_CACHE 512

/* One remembered dict-key label (key_label_code()). */
typedef struct key_label_entry {
    PyObject *key; /* a strong reference */
    uint32_t kind; /* ITEM_VALUE or ITEM_KEY */
    uint32_t code;
} key_label_entry;

#define KEY_LABEL_CACHE 4096

/* One remembered field label (field_code()), by its static name. */
typedef struct field_entry {
    const char *name;
    uint32_t code;
} field_entry;

#define FIELD_CACHE 256

typedef struct writer {
    rs_snapshot *snap;
    FILE *file;
    rs_dump_header header;
    rs_dump_section_entry *section; /* the one being written */
    uint64_t flushed;                /* bytes handed to the FILE; buf's follow them */
    string_pool pool;
    int io_error;
    size_t buffered;    /* bytes in buf not yet handed to the FILE */
    size_t crc_from;    /* buf[crc_from, buffered) is not yet in the section's CRC */
    unsigned char *buf; /* WRITE_BUFFER bytes: most records are 4 to 32 */
    attribute_entry *attributes; /* ATTRIBUTE_CACHE entries */
    key_label_entry *key_labels; /* KEY_LABEL_CACHE entries */
    uint32_t dict_code, class_code; /* ".__dict__", ".__class__" */
    uint32_t *seen;                 /* distinct_targets(): per node, the last holder + 1 */
    rs_dump_big_size *big_sizes;    /* nodes whose size needs 64 bits, by node */
    size_t big_size_count, big_size_cap;
    field_entry fields[FIELD_CACHE]; /* field_code() */
} writer;

/* Records are small (4 to 32 bytes); they are checksummed and written
 * 256 KiB at a time, not one by one: a piece the size of the L2 cache,
 * which the checksum and then the kernel's copy read from the cache. */
#define WRITE_BUFFER (1 << 18)

/* Folds the buffered bytes of the current section into its CRC. */
static void crc_buffered(writer *w)
{
    if (w->section != NULL && w->buffered > w->crc_from)
        w->section->crc = rs_dump_crc32(w->section->crc, w->buf + w->crc_from, w->buffered - w->crc_from);
    w->crc_from = w->buffered;
}

static void flush_buffer(writer *w)
{
    crc_buffered(w);
    if (w->buffered > 0 && !w->io_error && fwrite(w->buf, 1, w->buffered, w->file) != w->buffered)
        w->io_error = errno ? errno : EIO;
    w->flushed += w->buffered;
    w->buffered = w->crc_from = 0;
}

/* Where the next byte written goes, from the start of the file. */
static uint64_t write_offset(const writer *w)
{
    return w->flushed + w->buffered;
}

/* write_bytes() of what does not fit in the buffer's room. */
static void write_bytes_flushing(writer *w, const void *data, size_t len)
{
    if (len == 0 || w->io_error)
        return;
    flush_buffer(w);
    if (len > WRITE_BUFFER) {
        /* A piece at a time, so that the copy into the file reads what the
         * checksum just read from the cache, not again from memory. */
        const unsigned char *p = data;
        for (size_t done = 0, piece; done < len && !w->io_error; done += piece) {
            piece = len - done < WRITE_BUFFER ? len - done : WRITE_BUFFER;
            if (w->section != NULL)
                w->section->crc = rs_dump_crc32(w->section->crc, p + done, piece);
            if (fwrite(p + done, 1, piece, w->file) != piece)
                w->io_error = errno ? errno : EIO;
        }
        w->flushed += len;
    } else {
        memcpy(w->buf, data, len);
        w->buffered = len;
    }
}

/* Appends len bytes to the file (in the current section, if any).  Inline:
 * records are small and of constant size, so their copy is a few moves, not
 * a call to memcpy (2 ms at 1M objects).  Only the buffer's fill changes:
 * the offset and the section's length follow from it (write_offset()). */
static inline void write_bytes(writer *w, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (w->buffered + len > WRITE_BUFFER) {
        write_bytes_flushing(w, data, len);
        return;
    }
    memcpy(w->buf + w->buffered, data, len);
    w->buffered += len;
}

static void write_u32(writer *w, uint32_t value)
{
    write_bytes(w, &value, sizeof value);
}

static void section_begin(writer *w, uint32_t id)
{
    static const char zeros[8];
    w->section = NULL;
    write_bytes(w, zeros, (8 - write_offset(w) % 8) % 8);
    w->crc_from = w->buffered;
    w->section = &w->header.sections[id];
    *w->section = (rs_dump_section_entry){.id = id, .offset = write_offset(w)};
}

static void section_end(writer *w, uint64_t count)
{
    crc_buffered(w);
    w->section->length = write_offset(w) - w->section->offset;
    w->section->count = count;
    w->section = NULL;
}

/* --- reprs: written in C where the type allows, else through Python ------- */

/* Room for any repr or label text written here: a literal of at most
 * STRING_REPR_MAX + 3 characters, its "... (N characters)" tail, a key. */
#define TEXT_MAX 512

/* Appends text to out at *n (TEXT_MAX bytes in all; callers stay far
 * below). */
static void put_text(char *out, Py_ssize_t *n, const char *text)
{
    size_t len = strlen(text);
    memcpy(out + *n, text, len);
    *n += (Py_ssize_t)len;
}

/* Appends value in decimal, as "%lld" writes it (printf is a tenth of the
 * cost of a repr otherwise): its digits counted first, then written in
 * place right to left, two a step from a table. */
static void put_decimal(char *out, Py_ssize_t *n, long long value)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    unsigned long long v = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;
    int len = 1;
    for (unsigned long long rest = v; rest >= 10; rest /= 10)
        len++;
    if (value < 0)
        out[(*n)++] = '-';
    char *p = out + *n + len;
    *n += len;
    for (; v >= 100; v /= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (v % 100), 2);
    }
    if (v >= 10)
        memcpy(p - 2, pairs + 2 * v, 2);
    else
        p[-1] = (char)('0' + v);
}

/* Bytes of a 64-bit word: SWAR_ONES * c has c in each byte. */
#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGHS 0x8080808080808080ull

/* Nonzero when a byte of v is 0 (exact as to whether one is; which
 * bits are set past the first such byte is not). */
static inline uint64_t swar_has_zero(uint64_t v)
{
    return (v - SWAR_ONES) & ~v & SWAR_HIGHS;
}

/* Nonzero when a byte of v needs an escape whatever the quote: a
 * backslash, a control character, DEL or a byte past ASCII. */
static inline uint64_t swar_special(uint64_t v)
{
    return swar_has_zero(v ^ SWAR_ONES * '\\') | (((v - SWAR_ONES * ' ') & ~v) & SWAR_HIGHS) |
           (((v + SWAR_ONES) | v) & SWAR_HIGHS);
}

/* The rem (1 to 7) bytes at p as the low bytes of a word, spaces above:
 * two overlapping loads instead of a loop over the bytes, and no read
 * past p[rem - 1]. */
static inline uint64_t load_tail(const unsigned char *p, size_t rem)
{
    uint64_t v;
    if (rem >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + rem - 4, 4);
        v = (uint64_t)lo | (uint64_t)hi << 8 * (rem - 4);
    } else {
        v = (uint64_t)p[0] | (uint64_t)p[rem / 2] << 8 * (rem / 2) | (uint64_t)p[rem - 1] << 8 * (rem - 1);
    }
    uint64_t above = ~0ull << 8 * rem;
    return (v & ~above) | (SWAR_ONES * ' ' & above);
}

/* repr() of the ASCII text data[len] (of a str, or of bytes when
 * is_bytes) as rs_safe_repr writes it within max characters (at most
 * TEXT_MAX - 64): the quote Python picks, the same escapes.  Its length in
 * out, or -1 when it would be cut (the caller asks rs_safe_repr then). */
static Py_ssize_t literal_repr(char *out, Py_ssize_t max, const unsigned char *data, Py_ssize_t len, int is_bytes)
{
    if (len > max)
        return -1;
    /* Eight bytes a step, copied as they are scanned: which quotes occur,
     * and whether any byte needs an escape (most texts need none, and are
     * then done).  The last step reads the tail padded with spaces and
     * writes all eight (out has room); the closing quote overwrites the
     * padding. */
    char quote_single = '\'';
    Py_ssize_t n = 0;
    if (is_bytes)
        out[n++] = 'b';
    out[n++] = quote_single;
    uint64_t single = 0, dbl = 0, special = 0;
    for (Py_ssize_t i = 0; i < len; i += 8) {
        uint64_t v;
        if (len - i >= 8)
            memcpy(&v, data + i, 8);
        else
            v = load_tail(data + i, (size_t)(len - i));
        memcpy(out + n + i, &v, 8);
        single |= swar_has_zero(v ^ SWAR_ONES * '\'');
        dbl |= swar_has_zero(v ^ SWAR_ONES * '"');
        special |= swar_special(v);
    }
    char quote = single && !dbl ? '"' : quote_single;
    out[n - 1] = quote;
    if (!special && !(single && dbl)) {
        if (n + len + 1 > max)
            return -1;
        out[n + len] = quote;
        return n + len + 1;
    }
    /* The escapes: words that need none are still copied whole. */
    for (Py_ssize_t i = 0; i < len && n <= max; i++) {
        uint64_t v;
        if (len - i >= 8 && (memcpy(&v, data + i, 8), !(swar_special(v) | swar_has_zero(v ^ SWAR_ONES * quote)))) {
            memcpy(out + n, &v, 8);
            n += 8;
            i += 7;
            continue;
        }
        unsigned char ch = data[i];
        if (ch == quote || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch == '\t' || ch == '\n' || ch == '\r') {
            out[n++] = '\\';
            out[n++] = ch == '\t' ? 't' : ch == '\n' ? 'n' : 'r';
        } else if (ch < ' ' || ch >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n++] = quote;
    return n <= max ? n : -1;
}

/* repr(obj) as rs_safe_repr(obj, max) writes it, for the objects whose
 * repr is plain C: an ASCII str, bytes, an int of up to 64 bits, a float,
 * a bool, None.  Its length in out (TEXT_MAX bytes), or -1 for any other
 * object and for a repr that would be cut. */
static Py_ssize_t c_repr(PyObject *obj, char *out, Py_ssize_t max)
{
    Py_ssize_t n = -1;
    if (PyUnicode_CheckExact(obj) && PyUnicode_IS_COMPACT_ASCII(obj))
        return literal_repr(out, max, PyUnicode_DATA(obj), PyUnicode_GET_LENGTH(obj), 0);
    if (PyBytes_CheckExact(obj))
        return literal_repr(out, max, (const unsigned char *)PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj), 1);
    if (PyLong_CheckExact(obj)) {
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow) {
            n = 0;
            put_decimal(out, &n, value);
        }
    } else if (PyBool_Check(obj) || obj == Py_None) {
        n = 0;
        put_text(out, &n, obj == Py_True ? "True" : obj == Py_False ? "False" : "None");
    } else if (PyFloat_CheckExact(obj)) {
        /* What float.__repr__ itself calls. */
        char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(obj), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (text == NULL)
            PyErr_Clear(); /* MemoryError: Python's path will say so */
        else if (strlen(text) < 64) {
            n = 0;
            put_text(out, &n, text);
        }
        PyMem_Free(text);
    }
    return n >= 0 && n <= max ? n : -1;
}

/* The repr python_repr() below stores, written in C into out (TEXT_MAX
 * bytes) where the type allows: the same text, no Python object made.
 * Its length, or -1 when Python must write it. */
static Py_ssize_t c_stored_repr(PyObject *obj, char *out)
{
    if (PyUnicode_CheckExact(obj) || PyBytes_CheckExact(obj)) {
        int is_bytes = PyBytes_CheckExact(obj);
        Py_ssize_t len = is_bytes ? PyBytes_GET_SIZE(obj) : PyUnicode_GET_LENGTH(obj);
        if (len <= STRING_REPR_MAX)
            return c_repr(obj, out, STRING_REPR_MAX + 3);
        if (!is_bytes && !PyUnicode_IS_COMPACT_ASCII(obj))
            return -1;
        const unsigned char *data = is_bytes ? (const unsigned char *)PyBytes_AS_STRING(obj) : PyUnicode_DATA(obj);
        Py_ssize_t n = literal_repr(out, STRING_REPR_MAX + 3, data, STRING_REPR_MAX, is_bytes);
        if (n < 0)
            return -1;
        put_text(out, &n, "... (");
        put_decimal(out, &n, len);
        put_text(out, &n, is_bytes ? " bytes)" : " characters)");
        return n;
    }
    if (PyLong_CheckExact(obj) || PyFloat_CheckExact(obj) || PyBool_Check(obj) || obj == Py_None)
        return c_repr(obj, out, REPR_MAX);
    return -1;
}

/* One remembered container repr (items_repr_id()). */
typedef struct items_repr_entry {
    PyTypeObject *type; /* a static builtin type: its address is never reused */
    Py_ssize_t items;
    uint32_t id;
} items_repr_entry;

#define ITEMS_REPR_CACHE 1024

/* The string id of container obj's repr, "<list of 4 items>", remembered
 * per (type, length): most containers share a few texts, and building,
 * hashing and looking up each cost 3 ms of the 62 ms the nodes took at 1M
 * objects.  RS_DUMP_NO_STRING on MemoryError. */
static uint32_t items_repr_id(writer *w, items_repr_entry *cache, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    Py_ssize_t items = PyObject_Length(obj);
    items_repr_entry *e = &cache[((uintptr_t)tp >> 4 ^ (uintptr_t)items * 0x9e3779b9u) % ITEMS_REPR_CACHE];
    if (e->type == tp && e->items == items)
        return e->id;
    /* The exact builtin types' names are short. */
    char text[TEXT_MAX];
    Py_ssize_t n = 0;
    put_text(text, &n, "<");
    put_text(text, &n, tp->tp_name);
    put_text(text, &n, " of ");
    put_decimal(text, &n, items);
    put_text(text, &n, " items>");
    uint32_t id = pool_add(&w->pool, text, (size_t)n);
    if (id != RS_DUMP_NO_STRING)
        *e = (items_repr_entry){.type = tp, .items = items, .id = id};
    return id;
}

/* Whether instances of tp may have a stored repr (python_repr() below
 * gives the rest none), asked of the type table so that the objects of
 * other types are never read. */
static bool type_has_repr(PyTypeObject *tp)
{
    static PyTypeObject *const exact[] = {
        &PyUnicode_Type, &PyBytes_Type,    &PyLong_Type,  &PyFloat_Type,     &PyComplex_Type,   &PyBool_Type,
        &PyModule_Type,  &PyFunction_Type, &PyCode_Type,  &PyList_Type,      &PyTuple_Type,     &PyDict_Type,
        &PySet_Type,     &PyFrozenSet_Type, &PyByteArray_Type,
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (tp == exact[i])
            return true;
    return tp == Py_TYPE(Py_None) || PyType_IsSubtype(tp, &PyCFunction_Type) ||
           PyType_FastSubclass(tp, Py_TPFLAGS_TYPE_SUBCLASS);
}

/* What the writer does for an object of a type (write_nodes() asks the type
 * table once per type, not each object): no repr, a literal written in C
 * (str, bytes, int, float), a builtin container's "<TYPE of N items>", or
 * c_stored_repr() / python_repr() for the rest.  Instances of these exact
 * builtin types cannot change their class. */
enum { REPR_NONE, REPR_LITERAL, REPR_ITEMS, REPR_OTHER };

static uint8_t type_repr_kind(PyTypeObject *tp)
{
    if (tp == &PyUnicode_Type || tp == &PyBytes_Type || tp == &PyLong_Type || tp == &PyFloat_Type)
        return REPR_LITERAL;
    if (tp == &PyList_Type || tp == &PyTuple_Type || tp == &PyDict_Type || tp == &PySet_Type ||
        tp == &PyFrozenSet_Type || tp == &PyByteArray_Type)
        return REPR_ITEMS;
    return type_has_repr(tp) ? REPR_OTHER : REPR_NONE;
}

/* A bounded repr of obj that runs no Python code: reprs of C types whose
 * size is bounded, the first characters of a str/bytes, a short
 * description of everything else.  New str, or NULL when nothing is worth
 * storing (the reader shows "<type at address>"), NULL with an error set
 * on MemoryError. */
static PyObject *python_repr(PyObject *obj)
{
    if (PyUnicode_CheckExact(obj) || PyBytes_CheckExact(obj)) {
        Py_ssize_t len = PyUnicode_CheckExact(obj) ? PyUnicode_GET_LENGTH(obj) : PyBytes_GET_SIZE(obj);
        if (len <= STRING_REPR_MAX)
            return rs_safe_repr(obj, STRING_REPR_MAX + 3);
        PyObject *head = PyUnicode_CheckExact(obj) ? PyUnicode_Substring(obj, 0, STRING_REPR_MAX)
                                                   : PyBytes_FromStringAndSize(PyBytes_AS_STRING(obj), STRING_REPR_MAX);
        PyObject *r = head ? rs_safe_repr(head, STRING_REPR_MAX + 3) : NULL;
        Py_XDECREF(head);
        PyObject *text = r ? PyUnicode_FromFormat("%U... (%zd %s)", r, len, PyUnicode_CheckExact(obj) ? "characters" : "bytes") : NULL;
        Py_XDECREF(r);
        return text;
    }
    if (PyLong_CheckExact(obj)) {
        /* Past 64 bits the decimal repr costs more than a line is worth. */
        int overflow;
        PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow)
            return rs_safe_repr(obj, REPR_MAX);
        PyObject *bits = PyObject_CallMethod(obj, "bit_length", NULL);
        PyObject *text = bits ? PyUnicode_FromFormat("<int of %S bits>", bits) : NULL;
        Py_XDECREF(bits);
        return text;
    }
    if (PyFloat_CheckExact(obj) || PyComplex_CheckExact(obj) || PyBool_Check(obj) || obj == Py_None ||
        PyModule_CheckExact(obj) || PyFunction_Check(obj) || PyCFunction_Check(obj) || PyCode_Check(obj) ||
        PyType_Check(obj))
        return rs_safe_repr(obj, REPR_MAX);
    return NULL; /* builtin containers: items_repr_id() */
}

/* Nodes are written in batches: their C reprs first, each text's table
 * slot prefetched, then the texts added to the pool and the records
 * written, so that the cache misses of a batch overlap. */
#define NODE_BATCH 32

typedef struct repr_batch {
    char text[NODE_BATCH][TEXT_MAX];
    Py_ssize_t len[NODE_BATCH]; /* -1: no C text to look up (id[] holds the answer) */
    uint32_t hash[NODE_BATCH];
    uint32_t id[NODE_BATCH];
    rs_dump_node rec[NODE_BATCH]; /* the batch's records, written in one piece */
    uint8_t kind[NODE_BATCH];      /* REPR_* of each node */
    items_repr_entry items[ITEMS_REPR_CACHE]; /* items_repr_id()'s, for the whole pass */
} repr_batch;

/* The reprs of nodes [first, first + count) into b: a literal's C text
 * written into the pool at once, other C text hashed and its slot
 * prefetched, and for the rest python_repr()'s string id at once.  0, or -1 with an exception set.
 * Literals are almost all distinct (600k of 600k at 1M objects): looking
 * each up cost a table miss apiece for nothing, a fifth of the write. */
static int batch_reprs(writer *w, repr_batch *b, const uint8_t *kinds, size_t first, size_t count)
{
    rs_snapshot *s = w->snap;
    rs_graph *g = s->graph;
    /* The batch's objects are asked for first, so that their cache misses
     * overlap instead of coming one after the other. */
    for (size_t j = 0; j < count; j++) {
        rs_idx x = (rs_idx)(first + j);
        b->kind[j] = (rs_graph_flags(g, x) & RS_NODE_INTERNAL) ? REPR_NONE : kinds[rs_graph_type_id(g, x)];
        if (b->kind[j] != REPR_NONE)
            __builtin_prefetch(rs_snapshot_object(s, x));
    }
    for (size_t j = 0; j < count; j++) {
        rs_idx x = (rs_idx)(first + j);
        b->len[j] = -1;
        b->id[j] = RS_DUMP_NO_STRING;
        uint8_t kind = b->kind[j];
        if (kind == REPR_NONE)
            continue;
        PyObject *obj = rs_snapshot_object(s, x);
        if (kind == REPR_ITEMS) {
            if ((b->id[j] = items_repr_id(w, b->items, obj)) == RS_DUMP_NO_STRING) {
                PyErr_NoMemory();
                return -1;
            }
            continue;
        }
        if (kind == REPR_LITERAL) {
            /* A literal: written straight into the pool, kept without a look-up. */
            char *out = pool_reserve(&w->pool, TEXT_MAX);
            if (out == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            Py_ssize_t len = c_stored_repr(obj, out);
            if (len >= 0) {
                b->id[j] = pool_commit(&w->pool, (size_t)len);
                continue;
            }
        } else if ((b->len[j] = c_stored_repr(obj, b->text[j])) >= 0) {
            b->hash[j] = hash_bytes(b->text[j], (size_t)b->len[j]);
            pool_prefetch(&w->pool, b->hash[j]);
            continue;
        }
        PyObject *r = python_repr(obj);
        if (r == NULL && PyErr_Occurred())
            return -1;
        if (r != NULL && (b->id[j] = pool_take(&w->pool, r)) == RS_DUMP_NO_STRING)
            return -1;
    }
    return 0;
}

/* Remembers node x's size for BIG_SIZES.  0, or -1 with MemoryError. */
static int add_big_size(writer *w, rs_idx x, uint64_t size)
{
    if (w->big_size_count == w->big_size_cap) {
        size_t cap = w->big_size_cap ? 2 * w->big_size_cap : 16;
        rs_dump_big_size *more = rs_realloc(w->big_sizes, cap * sizeof *more);
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        w->big_sizes = more;
        w->big_size_cap = cap;
    }
    w->big_sizes[w->big_size_count++] = (rs_dump_big_size){.node = x, .size = size};
    return 0;
}

static int write_nodes(writer *w)
{
    rs_snapshot *s = w->snap;
    rs_graph *g = s->graph;
    size_t n = rs_graph_node_count(g);
    uint8_t *kinds = rs_malloc((s->type_count ? s->type_count : 1) * sizeof *kinds);
    repr_batch *b = rs_calloc(1, sizeof *b);
    if (kinds == NULL || b == NULL) {
        rs_free(kinds);
        rs_free(b);
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t t = 0; t < s->type_count; t++)
        kinds[t] = s->types[t].type != NULL ? type_repr_kind(s->types[t].type) : REPR_NONE;
    int r = 0;
    uint32_t edge = 0;
    section_begin(w, RS_DUMP_NODES);
    for (size_t first = 0; first < n && !w->io_error && r == 0; first += NODE_BATCH) {
        size_t count = n - first < NODE_BATCH ? n - first : NODE_BATCH;
        if ((r = batch_reprs(w, b, kinds, first, count)) < 0)
            break;
        for (size_t j = 0; j < count; j++) {
            rs_idx x = (rs_idx)(first + j);
            if (b->len[j] >= 0 &&
                (b->id[j] = pool_add_hashed(&w->pool, b->text[j], (size_t)b->len[j], b->hash[j])) ==
                    RS_DUMP_NO_STRING) {
                PyErr_NoMemory();
                r = -1;
                break;
            }
            uint32_t flags = rs_graph_flags(g, x);
            uint64_t size = rs_graph_size(g, x);
            /* Field by field into the batch, written as one piece below:
             * a record built on the stack and copied at once stalled on
             * store forwarding, 5 ms at 1M objects. */
            rs_dump_node *rec = &b->rec[j];
            rec->address = rs_graph_addr(g, x);
            rec->size = size < RS_DUMP_SIZE_BIG ? (uint32_t)size : RS_DUMP_SIZE_BIG;
            if (size >= RS_DUMP_SIZE_BIG && add_big_size(w, x, size) < 0) {
                r = -1;
                break;
            }
            rec->refcount = rs_graph_refcount(g, x);
            rec->type_id = rs_graph_type_id(g, x);
            rec->flags = flags;
            rec->edge_start = edge;
            rec->repr = b->id[j];
            size_t edges;
            rs_graph_referents(g, x, &edges);
            edge += (uint32_t)edges;
        }
        if (r == 0)
            write_bytes(w, b->rec, count * sizeof *b->rec);
    }
    rs_free(kinds);
    rs_free(b);
    section_end(w, n);
    return r;
}

static int write_targets(writer *w)
{
    size_t count;
    const rs_idx *targets = rs_graph_edges(w->snap->graph, &count);
    section_begin(w, RS_DUMP_TARGETS);
    write_bytes(w, targets, count * sizeof *targets);
    section_end(w, count);
    return 0;
}

/* The number N of a label prefix + N + suffix (N decimal, no leading
 * zero, below 2^30; prefix and suffix of pre and suf bytes), or -1 when
 * the label is not of that form. */
static long label_number_of(const char *text, size_t len, const char *prefix, size_t pre, const char *suffix,
                            size_t suf)
{
    if (len <= pre + suf || len - pre - suf > 10 || memcmp(text, prefix, pre) != 0 ||
        memcmp(text + len - suf, suffix, suf) != 0 || (text[pre] == '0' && len - pre - suf > 1))
        return -1;
    long n = 0;
    for (size_t i = pre; i < len - suf; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        n = n * 10 + (text[i] - '0');
    }
    return n < (1l << 30) ? n : -1;
}

/* label_number_of() of literal prefix and suffix. */
#define label_number(text, len, prefix, suffix) \
    label_number_of(text, len, prefix, sizeof prefix - 1, suffix, sizeof suffix - 1)

static uint32_t label_string_code(writer *w, const char *text, size_t len, bool unique);

/* A label's text as a code: "[N]", "<referent N>" and "<item>" without a
 * string; any other text a string, looked up, or appended when unique is
 * set.  RS_DUMP_NO_STRING with an exception set on error. */
static uint32_t label_code_of(writer *w, const char *text, size_t len, bool unique)
{
    long number;
    if ((number = label_number(text, len, "[", "]")) >= 0)
        return (RS_DUMP_LABEL_ITEM << 30) | (uint32_t)number;
    if ((number = label_number(text, len, "<referent ", ">")) >= 0)
        return (RS_DUMP_LABEL_REFERENT << 30) | (uint32_t)number;
    if (len == 6 && memcmp(text, "<item>", 6) == 0)
        return RS_DUMP_LABEL_SET_ITEM << 30;
    return label_string_code(w, text, len, unique);
}

/* A label's text stored as a string (label_code_of() without the forms
 * that need none). */
static uint32_t label_string_code(writer *w, const char *text, size_t len, bool unique)
{
    uint32_t id = unique ? pool_append(&w->pool, text, len) : pool_add(&w->pool, text, len);
    if (id == RS_DUMP_NO_STRING)
        PyErr_NoMemory();
    else if (id >= (1u << 30)) {
        PyErr_SetString(rs_error, "too many distinct edge labels for a dump (2^30)");
        return RS_DUMP_NO_STRING;
    }
    return id;
}

/* A label's text as a code, its string looked up (label_code_of()). */
static uint32_t label_text_code(writer *w, const char *text, size_t len)
{
    return label_code_of(w, text, len, false);
}

/* label_text_code() of a str. */
static uint32_t label_code(writer *w, PyObject *label)
{
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(label, &len);
    return text ? label_text_code(w, text, (size_t)len) : RS_DUMP_NO_STRING;
}

/* One pass over a dict, list, tuple or set: its items enumerated once and
 * hashed by pointer, so labelling costs the holder's width once instead of
 * once per edge.  As in label.c, the n-th edge to the same object takes the
 * n-th item that holds it (whatever order tp_traverse visits them in), and
 * an edge no item explains gets "<referent k>". */
typedef struct wide_item {
    PyObject *ptr;
    PyObject *key; /* dict entries: the key (a strong reference) */
    uint32_t what; /* kind << 30 | list/tuple index; kinds below */
    uint32_t next; /* the next item holding the same pointer, or NO_ITEM */
} wide_item;

enum { ITEM_VALUE, ITEM_KEY, ITEM_INDEX, ITEM_SET }; /* "[key]", "<key ...>", "[i]", "<item>" */
#define NO_ITEM UINT32_MAX

typedef struct wide_slot {
    PyObject *ptr; /* NULL: empty */
    uint32_t head; /* the first item not yet matched, or NO_ITEM */
    uint32_t tail;
} wide_slot;

/* The scratch arrays of the one-pass labeller, kept from holder to holder. */
typedef struct wide_scratch {
    wide_item *items;
    wide_slot *slots;
    size_t item_cap, slot_cap;
    size_t count;  /* items of the holder being labelled */
    bool pinned;   /* its dict keys are held (wide_pin_keys()) */
} wide_scratch;

static size_t wide_enumerate(PyObject *obj, wide_item *items, size_t max)
{
    size_t n = 0;
    if (PyDict_CheckExact(obj)) {
        int keys = rs_py_dict_visits_keys(obj);
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (n + 2 <= max && rs_py_dict_next(obj, &pos, &key, &value)) {
            items[n++] = (wide_item){.ptr = value, .key = key, .what = (uint32_t)ITEM_VALUE << 30};
            if (keys)
                items[n++] = (wide_item){.ptr = key, .key = key, .what = (uint32_t)ITEM_KEY << 30};
        }
    } else if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
        Py_ssize_t size = PySequence_Fast_GET_SIZE(obj);
        PyObject **seq = PySequence_Fast_ITEMS(obj);
        for (Py_ssize_t i = 0; i < size && n < max; i++)
            items[n++] = (wide_item){.ptr = seq[i], .what = (uint32_t)ITEM_INDEX << 30 | (uint32_t)(i & 0x3fffffff)};
    } else if (PyAnySet_CheckExact(obj)) {
        Py_ssize_t pos = 0;
        PyObject *key;
        while (n < max && rs_py_set_next(obj, &pos, &key))
            items[n++] = (wide_item){.ptr = key, .what = (uint32_t)ITEM_SET << 30};
    }
    return n;
}

/* The slot of ptr in a table of mask + 1 slots. */
static wide_slot *wide_slot_of(wide_slot *slots, size_t mask, PyObject *ptr)
{
    size_t i = ((uintptr_t)ptr >> 4) * 11400714819323198485ull & mask;
    while (slots[i].ptr != NULL && slots[i].ptr != ptr) {
        pool_probes++;
        i = (i + 1) & mask;
    }
    return &slots[i];
}

/* The label code of a dict entry (kind ITEM_VALUE or ITEM_KEY) whose key
 * has a plain C repr (c_repr: immutable builtins), remembered per key
 * object: a key shared by many dicts (interned, or a small int) costs a
 * lookup here, and a key seen once (most keys of a big dict) has its text
 * appended without a look-up in the string table, a table miss each.
 * Equal keys that are distinct objects may store their text twice.
 * RS_DUMP_NO_STRING with an exception set; -2 (as uint32_t) when the key
 * has no C repr. */
#define NO_C_REPR ((uint32_t)-2)
static uint32_t key_label_code(writer *w, PyObject *key, unsigned kind)
{
    key_label_entry *e = &w->key_labels[((uintptr_t)key >> 4 ^ kind) % KEY_LABEL_CACHE];
    if (e->key == key && e->kind == kind)
        return e->code;
    const char *prefix = kind == ITEM_VALUE ? "[" : "<key ", *suffix = kind == ITEM_VALUE ? "]" : ">";
    char text[TEXT_MAX];
    size_t pre = strlen(prefix);
    memcpy(text, prefix, pre);
    Py_ssize_t n = c_repr(key, text + pre, KEY_REPR_MAX);
    if (n < 0)
        return NO_C_REPR;
    memcpy(text + pre + n, suffix, strlen(suffix));
    /* Only an int's repr is a number: every other key's label is a string. */
    size_t len = pre + (size_t)n + strlen(suffix);
    uint32_t code = PyLong_CheckExact(key) ? label_code_of(w, text, len, true) : label_string_code(w, text, len, true);
    if (code != RS_DUMP_NO_STRING) {
        Py_XSETREF(e->key, Py_NewRef(key)); /* held, so its address is not reused */
        e->kind = kind;
        e->code = code;
    }
    return code;
}

/* Holds the dict keys of the holder's items, before the first key whose
 * repr runs Python code: that code may change the dict and free the others.
 * Until then no Python code runs, and the keys stay borrowed: taking and
 * dropping a reference to each key of a big dict cost two cache misses a
 * key, 3 ms at 1M objects. */
static void wide_pin_keys(wide_scratch *x)
{
    if (x->pinned)
        return;
    for (size_t j = 0; j < x->count; j++)
        Py_XINCREF(x->items[j].key);
    x->pinned = true;
}

/* Drops what wide_pin_keys() held. */
static void wide_unpin_keys(wide_scratch *x)
{
    if (!x->pinned)
        return;
    for (size_t j = 0; j < x->count; j++)
        Py_XDECREF(x->items[j].key);
    x->pinned = false;
}

/* The label code of item j; RS_DUMP_NO_STRING with an exception set.
 * Keys whose repr is plain C (c_repr) make no Python object. */
static uint32_t wide_label(writer *w, wide_scratch *x, size_t j)
{
    const wide_item *item = &x->items[j];
    unsigned kind = item->what >> 30;
    if (kind == ITEM_INDEX)
        return (RS_DUMP_LABEL_ITEM << 30) | (item->what & 0x3fffffff);
    if (kind == ITEM_SET)
        return RS_DUMP_LABEL_SET_ITEM << 30;
    uint32_t code = key_label_code(w, item->key, kind);
    if (code != NO_C_REPR)
        return code;
    wide_pin_keys(x);
    PyObject *kr = rs_safe_repr(item->key, KEY_REPR_MAX);
    PyObject *label = kr ? PyUnicode_FromFormat(kind == ITEM_VALUE ? "[%U]" : "<key %U>", kr) : NULL;
    Py_XDECREF(kr);
    code = label ? label_code(w, label) : RS_DUMP_NO_STRING;
    Py_XDECREF(label);
    return code;
}

/* Grows the scratch arrays to hold items items and slots slots. */
static int wide_reserve(wide_scratch *x, size_t items, size_t slots)
{
    if (items > x->item_cap) {
        wide_item *more = rs_realloc(x->items, items * sizeof *more);
        if (more == NULL)
            return -1;
        x->items = more;
        x->item_cap = items;
    }
    if (slots > x->slot_cap) {
        wide_slot *more = rs_realloc(x->slots, slots * sizeof *more);
        if (more == NULL)
            return -1;
        x->slots = more;
        x->slot_cap = slots;
    }
    return 0;
}

/* Matches each edge to the item that explains it (codes[k], or "<referent
 * k>" when none does), through a table of the items by pointer. */
static int match_wide_labels(writer *w, wide_scratch *x, size_t n, const rs_idx *targets, size_t count)
{
    size_t slot_count = 16;
    while (slot_count < 2 * n)
        slot_count *= 2;
    if (wide_reserve(x, 0, slot_count) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    wide_item *items = x->items;
    wide_slot *slots = x->slots;
    memset(slots, 0, slot_count * sizeof *slots);
    for (size_t j = 0; j < n; j++) {
        items[j].next = NO_ITEM;
        wide_slot *slot = wide_slot_of(slots, slot_count - 1, items[j].ptr);
        if (slot->ptr == NULL)
            *slot = (wide_slot){.ptr = items[j].ptr, .head = (uint32_t)j, .tail = (uint32_t)j};
        else if (slot->head == NO_ITEM)
            slot->head = slot->tail = (uint32_t)j;
        else
            slot->tail = items[slot->tail].next = (uint32_t)j;
    }
    for (size_t k = 0; k < count; k++) {
        uint32_t code = (RS_DUMP_LABEL_REFERENT << 30) | (uint32_t)(k & 0x3fffffff);
        wide_slot *slot = n ? wide_slot_of(slots, slot_count - 1, rs_snapshot_object(w->snap, targets[k])) : NULL;
        if (slot != NULL && slot->ptr != NULL && slot->head != NO_ITEM) {
            uint32_t j = slot->head;
            slot->head = items[j].next;
            if ((code = wide_label(w, x, j)) == RS_DUMP_NO_STRING)
                return -1;
        }
        write_u32(w, code);
    }
    return 0;
}

/* Whether holder's edges go to distinct nodes: seen[] (one entry per
 * node, allocated on first use) remembers the last holder that reached
 * each node, so the question costs the holder's width.  A small holder
 * compares its edges pairwise instead: a miss in seen[] per edge cost
 * more (most lists hold a few items). */
#define DISTINCT_SMALL 8
static int distinct_targets(writer *w, rs_idx holder, const rs_idx *targets, size_t count)
{
    if (count <= DISTINCT_SMALL) {
        for (size_t k = 1; k < count; k++)
            for (size_t j = 0; j < k; j++)
                if (targets[j] == targets[k])
                    return 0;
        return 1;
    }
    if (w->seen == NULL &&
        (w->seen = rs_calloc(rs_graph_node_count(w->snap->graph) + 1, sizeof *w->seen)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t k = 0; k < count; k++) {
        if (w->seen[targets[k]] == holder + 1)
            return 0;
        w->seen[targets[k]] = holder + 1;
    }
    return 1;
}

/* The labels of a list or tuple unchanged since the snapshot, read off its
 * items without copying them: its edges are its items last first (as its
 * traversal visits them) and hold no object twice, so edge k is "[n-1-k]",
 * as write_wide_labels() would find.  0 when written, 1 when the holder is
 * not of that shape, -1 with an exception set. */
static int write_sequence_labels(writer *w, rs_idx holder, PyObject *obj, const rs_idx *targets, size_t count)
{
    if ((size_t)PySequence_Fast_GET_SIZE(obj) != count || count > RS_DUMP_LABEL_VALUE(UINT32_MAX))
        return 1;
    PyObject **items = PySequence_Fast_ITEMS(obj);
    for (size_t k = 0; k < count; k++)
        if (items[count - 1 - k] != rs_snapshot_object(w->snap, targets[k]))
            return 1;
    int distinct = distinct_targets(w, holder, targets, count);
    if (distinct <= 0)
        return distinct < 0 ? -1 : 1;
    for (size_t k = 0; k < count; k++)
        write_u32(w, (RS_DUMP_LABEL_ITEM << 30) | (uint32_t)(count - 1 - k));
    return 0;
}

/* The labels of a dict, list, tuple or set (node holder), its items
 * enumerated once.  When the edges are the items in enumeration order (a
 * dict or set unchanged since the snapshot), edge k is item k, as the
 * matching would find; when they are the items last first (list and tuple
 * traversal) and hold no object twice, edge k is item n-1-k.  Otherwise
 * match_wide_labels() builds its table. */
#define KEY_AHEAD 8
static int write_wide_labels(writer *w, wide_scratch *x, rs_idx holder, PyObject *obj, const rs_idx *targets,
                             size_t count)
{
    /* Room for every item the container holds now, as label.c walks them
     * all: a container that grew since the snapshot still explains its edges. */
    size_t width = (size_t)(PyDict_CheckExact(obj)       ? PyDict_GET_SIZE(obj)
                            : PyAnySet_CheckExact(obj) ? PySet_GET_SIZE(obj)
                                                       : PySequence_Fast_GET_SIZE(obj));
    size_t max = 2 * (count > width ? count : width) + 2;
    if (max >= NO_ITEM || wide_reserve(x, max, 0) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    wide_item *items = x->items;
    size_t n = wide_enumerate(obj, items, max);
    bool in_order = n == count, reversed = n == count && !PyDict_CheckExact(obj) && !PyAnySet_CheckExact(obj);
    x->count = n;
    for (size_t j = 0; j < n && (in_order || reversed); j++) {
        PyObject *target = rs_snapshot_object(w->snap, targets[j]);
        in_order = in_order && items[j].ptr == target;
        reversed = reversed && items[n - 1 - j].ptr == target;
    }
    int r = in_order ? 1 : reversed ? distinct_targets(w, holder, targets, count) : 0;
    if (r == 0)
        r = match_wide_labels(w, x, n, targets, count);
    else if (r == 1) {
        r = 0;
        for (size_t k = 0; k < count && r == 0; k++) {
            /* A dict's keys are read for their text: the one KEY_AHEAD on
             * is asked for now (a prefetch of NULL, a list's, is nothing). */
            if (k + KEY_AHEAD < count)
                __builtin_prefetch(items[in_order ? k + KEY_AHEAD : n - 1 - k - KEY_AHEAD].key);
            uint32_t code = wide_label(w, x, in_order ? k : n - 1 - k);
            if (code == RS_DUMP_NO_STRING)
                r = -1;
            else
                write_u32(w, code);
        }
    }
    wide_unpin_keys(x);
    return r;
}

/* The code of the label "." + name (len bytes of UTF-8: an attribute's or
 * a field's name), its text on the stack unless the name is long. */
static uint32_t dotted_code(writer *w, const char *name, size_t len)
{
    char stack[TEXT_MAX];
    char *text = len < sizeof stack ? stack : rs_malloc(len + 1);
    if (text == NULL) {
        PyErr_NoMemory();
        return RS_DUMP_NO_STRING;
    }
    text[0] = '.';
    memcpy(text + 1, name, len);
    uint32_t code = label_text_code(w, text, len + 1);
    if (text != stack)
        rs_free(text);
    return code;
}

/* The label code of an instance's inline attribute i: ".name" (or
 * "<attribute i>" when the class has no name for it), as label.c writes it. */
static uint32_t attribute_text_code(writer *w, PyObject *name, Py_ssize_t i)
{
    Py_ssize_t len = 0;
    const char *utf8 = name != NULL ? PyUnicode_AsUTF8AndSize(name, &len) : NULL;
    if (utf8 != NULL)
        return dotted_code(w, utf8, (size_t)len);
    PyErr_Clear();
    PyObject *label = name ? PyUnicode_FromFormat(".%U", name) : PyUnicode_FromFormat("<attribute %zd>", i);
    uint32_t code = label ? label_code(w, label) : RS_DUMP_NO_STRING;
    Py_XDECREF(label);
    return code;
}

/* attribute_text_code(), remembered per (class, slot, name object): the
 * millionth instance of a class costs a lookup, not a text and a hash. */
static uint32_t attribute_code(writer *w, PyTypeObject *tp, Py_ssize_t i)
{
    PyObject *name = rs_py_inline_attribute_name(tp, i);
    attribute_entry *e = &w->attributes[((uintptr_t)tp >> 4 ^ (uintptr_t)i * 0x9e3779b9u) % ATTRIBUTE_CACHE];
    if (name != NULL && e->type == tp && e->slot == i && e->name == name)
        return e->code;
    uint32_t code = attribute_text_code(w, name, i);
    if (code != RS_DUMP_NO_STRING && name != NULL) {
        Py_XSETREF(e->name, Py_NewRef(name)); /* held, so its address is not reused */
        e->type = tp;
        e->slot = i;
        e->code = code;
    }
    return code;
}

/* An instance of a class without __slots__ (most objects of a program)
 * whose edges are exactly what label.c's label_python_instance() offers,
 * in its order (inline attributes, __dict__, the class): then label.c
 * would give edge k candidate k's label, and that is written here without
 * a Python string per edge.  0 when written, 1 when the holder is not of
 * that shape (label.c labels it), -1 with an exception set. */
static int write_instance_labels(writer *w, PyObject *obj, const rs_idx *targets, size_t count)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (!rs_py_uses_subtype_traverse(tp))
        return 1;
    for (PyTypeObject *base = tp; base != NULL && rs_py_uses_subtype_traverse(base); base = base->tp_base)
        if (Py_SIZE(base))
            return 1;
    PyObject **values;
    Py_ssize_t nvalues = rs_py_inline_attributes(obj, &values);
    PyObject *dict = rs_py_instance_dict(obj);
    size_t k = 0;
    for (Py_ssize_t i = 0; i < nvalues; i++)
        if (values[i] != NULL && (k >= count || values[i] != rs_snapshot_object(w->snap, targets[k++])))
            return 1;
    if (dict != NULL && (k >= count || dict != rs_snapshot_object(w->snap, targets[k++])))
        return 1;
    if (k + 1 != count || (PyObject *)tp != rs_snapshot_object(w->snap, targets[k]))
        return 1;
    for (Py_ssize_t i = 0; i < nvalues; i++) {
        if (values[i] == NULL)
            continue;
        uint32_t code = attribute_code(w, tp, i);
        if (code == RS_DUMP_NO_STRING)
            return -1;
        write_u32(w, code);
    }
    if (dict != NULL)
        write_u32(w, w->dict_code);
    write_u32(w, w->class_code);
    return 0;
}

/* The code of a field's label ".name" (rs_label_fields()), remembered by
 * the name's address: static, so the same text while the writer runs. */
static uint32_t field_code(writer *w, const char *name)
{
    field_entry *e = &w->fields[((uintptr_t)name >> 3) % FIELD_CACHE];
    if (e->name == name)
        return e->code;
    uint32_t code = dotted_code(w, name, strlen(name));
    if (code != RS_DUMP_NO_STRING) {
        e->name = name;
        e->code = code;
    }
    return code;
}

/* A holder label.c labels by its fields alone (a function, cell, method,
 * descriptor...), matched here as label.c would: the fields in order,
 * each taking the first edge still unlabelled that goes to its object.
 * When every edge is taken in edge order (a field whose object no edge
 * left goes to is passed over, as a descriptor's unvisited __name__),
 * edge k's label is its field's, written without a pass or a Python
 * string per edge.  0 when written, 1 when the holder is not of that
 * shape (label.c labels it), -1 with an exception set. */
static int write_field_labels(writer *w, PyObject *obj, const rs_idx *targets, size_t count)
{
    rs_label_field fields[RS_LABEL_FIELDS_MAX];
    int taken[RS_LABEL_FIELDS_MAX];
    int n = count <= RS_LABEL_FIELDS_MAX ? rs_label_fields(obj, fields) : -1;
    size_t k = 0;
    for (int i = 0; i < n && k < count; i++) {
        if (fields[i].ptr == NULL)
            continue;
        if (fields[i].ptr == rs_snapshot_object(w->snap, targets[k])) {
            taken[k++] = i;
            continue;
        }
        for (size_t j = k + 1; j < count; j++)
            if (fields[i].ptr == rs_snapshot_object(w->snap, targets[j]))
                return 1; /* it takes a later edge: out of edge order */
    }
    if (n < 0 || k != count)
        return 1;
    for (k = 0; k < count; k++) {
        uint32_t code = field_code(w, fields[taken[k]].name);
        if (code == RS_DUMP_NO_STRING)
            return -1;
        write_u32(w, code);
    }
    return 0;
}

/* The labels of node i's edges, in referent order.  Containers take one
 * pass here; every other holder is labelled by label.c in one pass
 * (rs_label_prepare), never once per edge. */
static int write_holder_labels(writer *w, wide_scratch *x, rs_idx i, const rs_idx *targets, size_t count)
{
    rs_snapshot *s = w->snap;
    PyObject *obj = rs_snapshot_object(s, i);
    /* A function's __closure__ goes to label.c, which knows its cells by name. */
    if (PyDict_CheckExact(obj) || PyList_CheckExact(obj) || PyAnySet_CheckExact(obj) ||
        (PyTuple_CheckExact(obj) && rs_label_closure_owner(s, i) == NULL)) {
        int r = PyList_CheckExact(obj) || PyTuple_CheckExact(obj) ? write_sequence_labels(w, i, obj, targets, count) : 1;
        return r <= 0 ? r : write_wide_labels(w, x, i, obj, targets, count);
    }
    int r = write_instance_labels(w, obj, targets, count);
    if (r > 0)
        r = write_field_labels(w, obj, targets, count);
    if (r <= 0)
        return r;
    if (rs_label_prepare(s, i, 1) < 0)
        return -1;
    for (size_t k = 0; k < count; k++) {
        PyObject *label = rs_label_referent(s, i, k);
        uint32_t code = label ? label_code(w, label) : RS_DUMP_NO_STRING;
        Py_XDECREF(label);
        if (code == RS_DUMP_NO_STRING)
            return -1;
        write_u32(w, code);
    }
    return 0;
}

static int write_labels(writer *w)
{
    rs_snapshot *s = w->snap;
    size_t n = rs_graph_node_count(s->graph);
    wide_scratch x = {0};
    static const char dict_label[] = ".__dict__", class_label[] = ".__class__";
    w->dict_code = label_text_code(w, dict_label, sizeof dict_label - 1);
    w->class_code = label_text_code(w, class_label, sizeof class_label - 1);
    if (w->dict_code == RS_DUMP_NO_STRING || w->class_code == RS_DUMP_NO_STRING)
        return -1;
    w->attributes = rs_calloc(ATTRIBUTE_CACHE, sizeof *w->attributes);
    w->key_labels = rs_calloc(KEY_LABEL_CACHE, sizeof *w->key_labels);
    if (w->attributes == NULL || w->key_labels == NULL) {
        rs_free(w->attributes);
        rs_free(w->key_labels);
        w->attributes = NULL;
        w->key_labels = NULL;
        PyErr_NoMemory();
        return -1;
    }
    int r = 0;
    section_begin(w, RS_DUMP_LABELS);
    for (size_t i = 0; i < n && !w->io_error && r == 0; i++) {
        size_t count;
        const rs_idx *targets = rs_graph_referents(s->graph, (rs_idx)i, &count);
        if (count == 0)
            continue;
        if (rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL) {
            for (size_t k = 0; k < count; k++)
                write_u32(w, (RS_DUMP_LABEL_REFERENT << 30) | (uint32_t)(k & 0x3fffffff));
            continue;
        }
        r = write_holder_labels(w, &x, (rs_idx)i, targets, count);
    }
    rs_free(x.items);
    rs_free(x.slots);
    for (size_t i = 0; i < ATTRIBUTE_CACHE; i++)
        Py_XDECREF(w->attributes[i].name);
    rs_free(w->attributes);
    w->attributes = NULL;
    for (size_t i = 0; i < KEY_LABEL_CACHE; i++)
        Py_XDECREF(w->key_labels[i].key);
    rs_free(w->key_labels);
    w->key_labels = NULL;
    rs_free(w->seen);
    w->seen = NULL;
    section_end(w, rs_graph_edge_count(s->graph));
    return r;
}

static int write_roots(writer *w)
{
    size_t count;
    const rs_root *roots = rs_graph_roots(w->snap->graph, &count);
    section_begin(w, RS_DUMP_ROOTS);
    for (size_t i = 0; i < count; i++) {
        uint32_t label = pool_take(&w->pool, rs_label_root(w->snap, &roots[i]));
        if (label == RS_DUMP_NO_STRING)
            return -1;
        rs_dump_root rec = {.target = roots[i].target, .kind = roots[i].kind, .label = label};
        write_bytes(w, &rec, sizeof rec);
    }
    section_end(w, count);
    return 0;
}

static int write_types(writer *w)
{
    section_begin(w, RS_DUMP_TYPES);
    for (uint32_t t = 0; t < w->snap->type_count; t++) {
        uint32_t id = pool_add(&w->pool, w->snap->types[t].name, strlen(w->snap->types[t].name));
        if (id == RS_DUMP_NO_STRING) {
            PyErr_NoMemory();
            return -1;
        }
        write_bytes(w, &id, sizeof id);
    }
    section_end(w, w->snap->type_count);
    return 0;
}

/* Threads, frames and locals are small (a few per thread): collected in
 * memory, then written as three sections. */
typedef struct frame_tables {
    rs_dump_thread *threads;
    rs_dump_frame *frames;
    rs_dump_local *locals;
    size_t thread_count, frame_count, local_count;
    size_t frame_cap, local_cap;
} frame_tables;

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Appends a frame (code, line) with its locals (taken: freed here). */
static int add_frame(writer *w, frame_tables *t, PyObject *code_obj, int line, rs_local *locals, size_t nlocals)
{
    if (locals == NULL)
        return -1;
    int r = -1;
    if (t->frame_count == t->frame_cap) {
        size_t cap = t->frame_cap ? 2 * t->frame_cap : 64;
        rs_dump_frame *frames = rs_realloc(t->frames, cap * sizeof *frames);
        if (frames == NULL)
            goto done;
        t->frames = frames;
        t->frame_cap = cap;
    }
    if (t->local_count + nlocals > t->local_cap) {
        size_t cap = t->local_cap ? 2 * t->local_cap : 256;
        while (cap < t->local_count + nlocals)
            cap *= 2;
        rs_dump_local *more = rs_realloc(t->locals, cap * sizeof *more);
        if (more == NULL)
            goto done;
        t->locals = more;
        t->local_cap = cap;
    }
    PyCodeObject *code = (PyCodeObject *)code_obj;
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL)
        PyErr_Clear();
    rs_dump_frame f = {.first_local = (uint32_t)t->local_count, .local_count = (uint32_t)nlocals};
    f.function = pool_add_str(&w->pool, code->co_qualname);
    f.where = pool_take(&w->pool, PyUnicode_FromFormat("%s:%d", file ? basename_of(file) : "?", line));
    if (f.function == RS_DUMP_NO_STRING || f.where == RS_DUMP_NO_STRING)
        goto error_set;
    for (size_t i = 0; i < nlocals; i++) {
        uint32_t name = pool_add_str(&w->pool, locals[i].name);
        if (name == RS_DUMP_NO_STRING)
            goto error_set;
        t->locals[t->local_count++] = (rs_dump_local){.name = name, .value = locals[i].value};
    }
    t->frames[t->frame_count++] = f;
    r = 0;
    goto error_set;
done:
    PyErr_NoMemory();
error_set:
    rs_free(locals);
    return r;
}

static int collect_frames(writer *w, frame_tables *t)
{
    rs_snapshot *s = w->snap;
    t->threads = rs_calloc((size_t)s->thread_count + 1, sizeof *t->threads);
    if (t->threads == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t k = 0; k < s->thread_count; k++) {
        const rs_thread_info *ti = &s->threads[k];
        rs_dump_thread *th = &t->threads[t->thread_count++];
        *th = (rs_dump_thread){.has_ident = 1, .ident = ti->ident, .first_frame = (uint32_t)t->frame_count};
        if ((th->name = pool_add(&w->pool, ti->name, strlen(ti->name))) == RS_DUMP_NO_STRING) {
            PyErr_NoMemory();
            return -1;
        }
        for (uint32_t f = ti->first_frame; f < ti->first_frame + ti->frame_count; f++) {
            if (s->frames[f].refscope) /* `refscope run`'s bootstrap, as frames() hides it */
                continue;
            size_t count;
            rs_local *locals = rs_frame_locals(s, f, &count);
            if (add_frame(w, t, s->frames[f].code, s->frames[f].line, locals, count) < 0)
                return -1;
        }
        th->frame_count = (uint32_t)t->frame_count - th->first_frame;
    }
    size_t count;
    rs_suspended_frame *suspended = rs_suspended_frames(s, &count);
    if (suspended == NULL)
        return -1;
    rs_dump_thread *th = &t->threads[t->thread_count++];
    static const char suspended_name[] = "<suspended generators and coroutines>";
    *th = (rs_dump_thread){.first_frame = (uint32_t)t->frame_count,
                           .name = pool_add(&w->pool, suspended_name, sizeof suspended_name - 1)};
    int r = th->name == RS_DUMP_NO_STRING ? (PyErr_NoMemory(), -1) : 0;
    for (size_t i = 0; r == 0 && i < count; i++) {
        size_t nlocals;
        rs_local *locals = rs_generator_locals(s, suspended[i].generator, &nlocals);
        r = add_frame(w, t, suspended[i].code, suspended[i].line, locals, nlocals);
    }
    rs_free(suspended);
    th->frame_count = (uint32_t)t->frame_count - th->first_frame;
    return r;
}

static int write_frames(writer *w)
{
    frame_tables t = {0};
    int r = collect_frames(w, &t);
    if (r == 0) {
        section_begin(w, RS_DUMP_THREADS);
        write_bytes(w, t.threads, t.thread_count * sizeof *t.threads);
        section_end(w, t.thread_count);
        section_begin(w, RS_DUMP_FRAMES);
        write_bytes(w, t.frames, t.frame_count * sizeof *t.frames);
        section_end(w, t.frame_count);
        section_begin(w, RS_DUMP_LOCALS);
        write_bytes(w, t.locals, t.local_count * sizeof *t.locals);
        section_end(w, t.local_count);
    }
    rs_free(t.threads);
    rs_free(t.frames);
    rs_free(t.locals);
    return r;
}

static int write_closures(writer *w)
{
    /* In node order: the reader sorts them by its own dominator tree, so
     * the writer computes none. */
    size_t count;
    rs_closure_var *vars = rs_closure_cells(w->snap, &count);
    if (vars == NULL)
        return -1;
    int r = 0;
    section_begin(w, RS_DUMP_CLOSURES);
    for (size_t i = 0; r == 0 && i < count; i++) {
        uint32_t name = pool_take(&w->pool, rs_closure_var_name(w->snap, &vars[i]));
        rs_dump_closure rec = {.function = vars[i].function, .value = vars[i].value, .name = name, .cell = vars[i].cell};
        if (name == RS_DUMP_NO_STRING)
            r = -1;
        else
            write_bytes(w, &rec, sizeof rec);
    }
    section_end(w, count);
    rs_free(vars);
    return r;
}

/* 1 when tracemalloc traces allocations, 0 when not, -1 on error.  Asked
 * before anything is written: importing tracemalloc can change objects the
 * labels describe (an import refreshes the path finders' caches), so when
 * it traces, tracemalloc (which write_allocations() uses) is imported here.
 * The question itself goes to the builtin _tracemalloc: importing the
 * Python module first cost a cold save 2.5 ms at 1M objects. */
static int tracing_allocations(void)
{
    PyObject *builtin = PyImport_ImportModule("_tracemalloc");
    PyObject *tracing = builtin ? PyObject_CallMethod(builtin, "is_tracing", NULL) : NULL;
    Py_XDECREF(builtin);
    if (tracing == NULL)
        return -1;
    int on = tracing == Py_True;
    Py_DECREF(tracing);
    if (on) {
        PyObject *tracemalloc = PyImport_ImportModule("tracemalloc");
        if (tracemalloc == NULL)
            return -1;
        Py_DECREF(tracemalloc);
    }
    return on;
}

static int write_allocations(writer *w)
{
    rs_snapshot *s = w->snap;
    section_begin(w, RS_DUMP_ALLOCATIONS);
    size_t written = 0, n = w->header.tracemalloc ? rs_graph_node_count(s->graph) : 0;
    for (size_t i = 0; i < n; i++) {
        if (rs_graph_flags(s->graph, (rs_idx)i) & RS_NODE_INTERNAL)
            continue;
        PyObject *text = rs_allocation_traceback_text(rs_snapshot_object(s, (rs_idx)i));
        if (text == NULL) {
            if (PyErr_Occurred())
                return -1;
            continue;
        }
        rs_dump_allocation rec = {.node = (uint32_t)i, .traceback = pool_take(&w->pool, text)};
        if (rec.traceback == RS_DUMP_NO_STRING)
            return -1;
        write_bytes(w, &rec, sizeof rec);
        written++;
    }
    section_end(w, written);
    return 0;
}

static void write_strings(writer *w)
{
    uint64_t zero = 0;
    section_begin(w, RS_DUMP_STRING_INDEX);
    if (w->pool.count == 0)
        write_bytes(w, &zero, sizeof zero);
    else
        write_bytes(w, w->pool.offsets, ((size_t)w->pool.count + 1) * sizeof *w->pool.offsets);
    section_end(w, w->pool.count);
    section_begin(w, RS_DUMP_STRING_BYTES);
    write_bytes(w, w->pool.bytes, w->pool.len);
    section_end(w, w->pool.len);
    w->header.string_count = w->pool.count;
}

static void write_big_sizes(writer *w)
{
    section_begin(w, RS_DUMP_BIG_SIZES);
    write_bytes(w, w->big_sizes, w->big_size_count * sizeof *w->big_sizes);
    section_end(w, w->big_size_count);
}

static int fill_header(writer *w)
{
    rs_snapshot *s = w->snap;
    rs_dump_header *h = &w->header;
    rs_process_memory m;
    int tracing = tracing_allocations();
    if (tracing < 0 || rs_process_memory_read(s, &m) < 0)
        return -1;
    h->tracemalloc = (uint32_t)tracing;
    memcpy(h->magic, RS_DUMP_MAGIC, sizeof h->magic);
    h->version = RS_DUMP_VERSION;
    h->header_size = sizeof *h;
    h->section_count = RS_DUMP_SECTION_COUNT;
    h->pid = (uint64_t)getpid();
    h->time = (int64_t)time(NULL);
    snprintf(h->python_version, sizeof h->python_version, "%s", PY_VERSION);
    h->node_count = rs_graph_node_count(s->graph);
    h->edge_count = rs_graph_edge_count(s->graph);
    h->visible_count = s->visible_count;
    h->snapshot_seconds = s->seconds;
    h->memory_objects = m.objects;
    h->memory_rss = m.rss;
    h->have_arenas = m.have_arenas;
    h->arena_bytes = m.arena_bytes;
    h->arena_count = m.arena_count;
    h->arena_used = m.arena_used;
    h->arena_free = m.arena_free;
    h->arena_overhead = m.arena_overhead;
    return 0;
}

int rs_dump_write(rs_snapshot *s, const char *path)
{
    double start = rs_monotonic_seconds();
    if (rs_graph_edge_count(s->graph) >= UINT32_MAX) {
        PyErr_SetString(rs_error, "this snapshot has too many edges for a dump (2^32)");
        return -1;
    }
    size_t tmp_len = strlen(path) + 32;
    char *tmp = rs_malloc(tmp_len);
    if (tmp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    snprintf(tmp, tmp_len, "%s.%ld.tmp", path, (long)getpid());
    writer w = {.snap = s, .buf = rs_malloc(WRITE_BUFFER)};
    if (w.buf == NULL) {
        rs_free(tmp);
        PyErr_NoMemory();
        return -1;
    }
    /* A dump holds the program's data (its strings): for its owner only. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    w.file = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (w.file == NULL) {
        if (fd >= 0)
            close(fd);
        rs_free(w.buf);
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(errno));
        rs_free(tmp);
        return -1;
    }
    write_bytes(&w, &w.header, sizeof w.header); /* placeholder, rewritten last */
    int r = -1;
    if (fill_header(&w) < 0 || write_nodes(&w) < 0 || write_targets(&w) < 0 || write_labels(&w) < 0 ||
        write_roots(&w) < 0 || write_types(&w) < 0 || write_frames(&w) < 0 || write_closures(&w) < 0 ||
        write_allocations(&w) < 0)
        goto done;
    write_strings(&w);
    write_big_sizes(&w);
    w.header.write_seconds = rs_monotonic_seconds() - start;
    w.header.header_crc = 0;
    w.header.header_crc = rs_dump_crc32(0, &w.header, sizeof w.header);
    flush_buffer(&w);
    if (!w.io_error && (fflush(w.file) != 0 || fseek(w.file, 0, SEEK_SET) != 0))
        w.io_error = errno ? errno : EIO;
    w.flushed = 0;
    write_bytes(&w, &w.header, sizeof w.header);
    flush_buffer(&w);
    if (!w.io_error && fflush(w.file) != 0)
        w.io_error = errno ? errno : EIO;
    if (w.io_error) {
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(w.io_error));
        goto done;
    }
    r = 0;
done:
    if (fclose(w.file) != 0 && r == 0) {
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(errno));
        r = -1;
    }
    if (r == 0 && rename(tmp, path) != 0) {
        PyErr_Format(rs_error, "cannot write the dump to %s: %s", path, strerror(errno));
        r = -1;
    }
    if (r < 0)
        unlink(tmp);
    rs_free(tmp);
    rs_free(w.buf);
    rs_free(w.big_sizes);
    pool_free(&w.pool);
    return r;
}
