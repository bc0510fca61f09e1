/* SPDX-License-Identifier: MIT */
/*
 * Count allocations with the linker's --wrap: every call to malloc & co.
 * from the bench and the vstor libraries linked into it lands here first.
 * Counting from all threads, because a port worker allocating on behalf of
 * an I/O breaks the "no malloc on the I/O path" rule just as much.
 *
 * A shared library calls malloc directly, past --wrap: libcrypto (the
 * crypt filter's cipher) is given counting allocators of its own with
 * CRYPTO_set_mem_functions, which must happen before it allocates anything
 * (malloc_count_init, first thing in main).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "malloc_count.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t sz);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int   __real_posix_memalign(void **p, size_t a, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t sz);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int   __wrap_posix_memalign(void **p, size_t a, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static atomic_bool counting;
static atomic_uint_fast64_t count;

static inline void note(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
}

void *__wrap_malloc(size_t n) { note(); return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t sz) { note(); return __real_calloc(n, sz); }
void *__wrap_realloc(void *p, size_t n) { note(); return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { note(); return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { note(); return __real_posix_memalign(p, a, n); }
char *__wrap_strdup(const char *s) { note(); return __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { note(); return __real_strndup(s, n); }

static void *crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	note();
	return __real_malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	note();
	return __real_realloc(p, n);
}

static void crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

int malloc_count_init(void)
{
	return CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) ? 0 : -1;
}

void malloc_count_start(void)
{
	atomic_store(&count, 0);
	atomic_store(&counting, true);
}

uint64_t malloc_count_stop(void)
{
	atomic_store(&counting, false);
	return (uint64_t)atomic_load(&count);
}
