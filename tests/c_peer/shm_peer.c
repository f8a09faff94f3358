/*
 * shm_peer.c: the C side of pymmap's shared-memory tests and example.
 *
 * A C program and a Python program share one record, laid out the way a C
 * program would lay it out: packed (no padding), little-endian (Intel byte
 * order) except for one big-endian word, with a signed char shown as text
 * and a fixed-length string field.  The record starts at byte RECORD_AT of
 * both a POSIX shared memory object and a System V segment.
 *
 *   shm_peer write  NAME KEY   create the POSIX object NAME and the System V
 *                              segment KEY (SIZE bytes each), write the
 *                              first set of values into both, and exit
 *   shm_peer verify NAME KEY   check that both now hold the second set of
 *                              values (the ones Python writes back); print
 *                              each mismatch and exit 1 if there is any
 *   shm_peer layout            print the size of struct shmid_ds and the
 *                              offsets of shm_segsz and shm_nattch
 *   shm_peer shrink NAME BYTES cut the POSIX object NAME to BYTES bytes, as a
 *                              C program may do while another one maps it
 *
 * Exit status: 0 success, 1 a value did not match, 2 usage or system error.
 * Nothing is removed: the caller unlinks the object and removes the segment.
 * Build: cc -std=c99 -Wall -o shm_peer shm_peer.c   (add -lrt before glibc 2.34)
 */
#define _DEFAULT_SOURCE
#include <endian.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define SIZE 4096
#define RECORD_AT 16
#define GUARD 0xA5 /* the bytes just before and after the record */

#pragma pack(push, 1)
struct record {        /* offset in the record */
    uint8_t u8;        /*  0 */
    int8_t i8;         /*  1 */
    uint16_t u16;      /*  2 */
    int16_t i16;       /*  4 */
    uint32_t u32;      /*  6 */
    int32_t i32;       /* 10 */
    uint64_t u64;      /* 14 */
    int64_t i64;       /* 22 */
    uint32_t f32;      /* 30: the bits of a float */
    uint64_t f64;      /* 34: the bits of a double */
    char tag;          /* 42: a signed char, printable ASCII */
    char name[12];     /* 43: text, padded with NULs */
    uint32_t be_word;  /* 55: big-endian */
};                     /* 59 bytes */
#pragma pack(pop)

struct values {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    uint64_t u64; int64_t i64; float f32; double f64; char tag; const char *name;
    uint32_t be_word;
};

/* What `write` stores. */
static const struct values FIRST = {
    200, -100, 0xBEEF, -12345, 0xDEADBEEFu, -123456789,
    0x0123456789ABCDEFull, -1234567890123456789ll, 1.5f, -2.25, 'A', "sensor-7",
    0x11223344u,
};
/* What `verify` expects Python to have stored. */
static const struct values SECOND = {
    7, -7, 0xFFFF, -32768, 4000000000u, -2147483647 - 1,
    0xFFFFFFFFFFFFFFFFull, -9223372036854775807ll - 1, -0.5f, 3.141592653589793, 'z', "python",
    0xCAFEBABEu,
};

static uint32_t float_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static uint64_t double_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static void store(unsigned char *base, const struct values *v)
{
    struct record r;
    memset(&r, 0, sizeof r);
    r.u8 = v->u8;
    r.i8 = v->i8;
    r.u16 = htole16(v->u16);
    r.i16 = (int16_t)htole16((uint16_t)v->i16);
    r.u32 = htole32(v->u32);
    r.i32 = (int32_t)htole32((uint32_t)v->i32);
    r.u64 = htole64(v->u64);
    r.i64 = (int64_t)htole64((uint64_t)v->i64);
    r.f32 = htole32(float_bits(v->f32));
    r.f64 = htole64(double_bits(v->f64));
    r.tag = v->tag;
    strncpy(r.name, v->name, sizeof r.name);
    r.be_word = htobe32(v->be_word);
    base[RECORD_AT - 1] = GUARD;
    memcpy(base + RECORD_AT, &r, sizeof r);
    base[RECORD_AT + sizeof r] = GUARD;
}

static int mismatches;

static void expect(const char *where, const char *field, int ok)
{
    if (!ok) {
        fprintf(stderr, "%s: %s differs\n", where, field);
        mismatches++;
    }
}

static void check(const char *where, const unsigned char *base, const struct values *v)
{
    struct record r;
    char name[sizeof r.name];
    memcpy(&r, base + RECORD_AT, sizeof r);
    memset(name, 0, sizeof name);
    strncpy(name, v->name, sizeof name);
    expect(where, "guard before", base[RECORD_AT - 1] == GUARD);
    expect(where, "u8", r.u8 == v->u8);
    expect(where, "i8", r.i8 == v->i8);
    expect(where, "u16", le16toh(r.u16) == v->u16);
    expect(where, "i16", (int16_t)le16toh((uint16_t)r.i16) == v->i16);
    expect(where, "u32", le32toh(r.u32) == v->u32);
    expect(where, "i32", (int32_t)le32toh((uint32_t)r.i32) == v->i32);
    expect(where, "u64", le64toh(r.u64) == v->u64);
    expect(where, "i64", (int64_t)le64toh((uint64_t)r.i64) == v->i64);
    expect(where, "f32", le32toh(r.f32) == float_bits(v->f32));
    expect(where, "f64", le64toh(r.f64) == double_bits(v->f64));
    expect(where, "tag", r.tag == v->tag);
    expect(where, "name", memcmp(r.name, name, sizeof name) == 0);
    expect(where, "be_word", be32toh(r.be_word) == v->be_word);
    expect(where, "guard after", base[RECORD_AT + sizeof r] == GUARD);
}

static unsigned char *posix_map(const char *name, int create)
{
    int fd = shm_open(name, O_RDWR | (create ? O_CREAT | O_EXCL : 0), 0600);
    if (fd < 0) { perror("shm_open"); exit(2); }
    if (create && ftruncate(fd, SIZE) < 0) { perror("ftruncate"); exit(2); }
    void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(2); }
    close(fd);
    return p;
}

static unsigned char *sysv_map(key_t key, int create)
{
    int id = shmget(key, create ? SIZE : 0, create ? IPC_CREAT | IPC_EXCL | 0600 : 0);
    if (id < 0) { perror("shmget"); exit(2); }
    void *p = shmat(id, NULL, 0);
    if (p == (void *) -1) { perror("shmat"); exit(2); }
    return p;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "layout") == 0) {
        printf("%zu %zu %zu\n", sizeof(struct shmid_ds), offsetof(struct shmid_ds, shm_segsz),
               offsetof(struct shmid_ds, shm_nattch));
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "shrink") == 0) {
        int fd = shm_open(argv[2], O_RDWR, 0);
        if (fd < 0) { perror("shm_open"); return 2; }
        if (ftruncate(fd, (off_t) strtoul(argv[3], NULL, 0)) != 0) { perror("ftruncate"); return 2; }
        close(fd);
        return 0;
    }
    if (argc != 4 || (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "verify") != 0)) {
        fprintf(stderr, "usage: %s write|verify NAME KEY, shrink NAME BYTES, or %s layout\n",
                argv[0], argv[0]);
        return 2;
    }
    int writing = strcmp(argv[1], "write") == 0;
    key_t key = (key_t) strtoul(argv[3], NULL, 0);
    unsigned char *posix = posix_map(argv[2], writing);
    unsigned char *sysv = sysv_map(key, writing);
    if (writing) {
        store(posix, &FIRST);
        store(sysv, &FIRST);
    } else {
        check("posix", posix, &SECOND);
        check("sysv", sysv, &SECOND);
    }
    munmap(posix, SIZE);
    shmdt(sysv);
    return mismatches ? 1 : 0;
}
