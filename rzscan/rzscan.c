// SPDX-License-Identifier: GPL-2.0-only
/*
 * rzscan: the ramzswap workload.
 *
 * Allocates anonymous memory, fills every page from a data set, then reads
 * it back pass after pass (cyclic) or fills, reads and discards it once per
 * pass (use-once), checking each page against a checksum kept outside the
 * scanned region. Prints one JSON line with the totals and the swap traffic
 * seen in /proc/vmstat. Exit status: 0 all pages verified, 1 a page did not
 * read back as written, 2 usage error, 3 run-time failure (memory could not
 * be mapped, a worker was killed, ...).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RZ_EXIT_OK 0
#define RZ_EXIT_MISMATCH 1
#define RZ_EXIT_USAGE 2
#define RZ_EXIT_RUNTIME 3

#define MAX_MIB (1UL << 20)
#define MAX_PASSES 1000000UL
#define MAX_WORKERS 1024UL
#define MAX_REPORTED 10
#define DISCARD_BATCH 64

/* Environment variable of the test hook: flip one byte of this page. */
#define CORRUPT_ENV "RZSCAN_CORRUPT_PAGE"

static const char usage_line[] =
	"usage: rzscan [--data zero|same|text|random|mixed|file:PATH] "
	"[--random-pct P] [--mode cyclic|once] [--rewrite] [--workers K] [--seed N] "
	"MIB [PASSES]";

enum dataset { DS_ZERO, DS_SAME, DS_TEXT, DS_RANDOM, DS_MIXED, DS_FILE };
enum scan_mode { MODE_CYCLIC, MODE_ONCE };

struct config {
	enum dataset dataset;
	const char *dataset_arg;
	int file_fd;
	uint64_t file_pages;
	unsigned long random_pct;
	enum scan_mode mode;
	int rewrite;
	unsigned long mib;
	unsigned long passes;
	unsigned long workers;
	uint64_t seed;
	int64_t corrupt_page;
	size_t page_size;
	uint64_t total_pages;
};

/* What a worker sends back to the parent through its pipe. */
struct worker_result {
	uint64_t pages_scanned;
	uint64_t mismatches;
	int64_t first_bad_page;
	uint64_t worst_page_ns;
	int32_t failed;
};

struct worker {
	unsigned long id;
	uint64_t first_page;
	uint64_t npages;
	unsigned char *region;
	uint64_t *expected;
	unsigned char *scratch;
	struct worker_result res;
};

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rzscan: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; %s\n", usage_line);
	exit(RZ_EXIT_USAGE);
}

static void print_help(void)
{
	printf("%s\n\n"
	       "Fill MIB MiB of anonymous memory from a data set and read it back\n"
	       "PASSES times (default 1), verifying every page each time it is read.\n\n"
	       "  --data SET     zero, same (one repeated word per page), text\n"
	       "                 (text-like), random, mixed, or file:PATH (pages\n"
	       "                 taken from PATH cyclically); default mixed\n"
	       "  --random-pct P make P %% of the pages random (incompressible)\n"
	       "                 instead, whatever the data set\n"
	       "  --mode MODE    cyclic: fill once, then scan every pass;\n"
	       "                 once: each pass fills, scans once and discards\n"
	       "  --rewrite      cyclic mode: write new content after each check\n"
	       "  --workers K    fork K processes sharing MIB between them\n"
	       "  --seed N       seed of the generated data (default 1)\n\n"
	       "Prints one JSON line. Exit status: 0 verified, 1 mismatch,\n"
	       "2 usage error, 3 run-time failure.\n", usage_line);
}

/* Strict decimal parse: digits only, within [min, max]. */
static int parse_ulong(const char *s, unsigned long long min,
		       unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p;

	if (!*s)
		return -1;
	for (p = s; *p; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

static unsigned long parse_count(const char *what, const char *s,
				 unsigned long min, unsigned long max)
{
	unsigned long long v;

	if (parse_ulong(s, min, max, &v))
		usage_error("bad %s '%s' (a whole number from %lu to %lu)",
			    what, s, min, max);
	return (unsigned long)v;
}

static void open_data_file(struct config *cfg, const char *path)
{
	struct stat st;
	int fd;

	if (!*path)
		usage_error("file: needs a path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		usage_error("cannot open data file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		usage_error("data file '%s' is not a regular file", path);
	if (st.st_size <= 0)
		usage_error("data file '%s' is empty", path);
	cfg->file_fd = fd;
	cfg->file_pages = ((uint64_t)st.st_size + cfg->page_size - 1) / cfg->page_size;
}

static void parse_dataset(struct config *cfg, const char *arg)
{
	static const struct { const char *name; enum dataset ds; } names[] = {
		{ "zero", DS_ZERO }, { "same", DS_SAME }, { "text", DS_TEXT },
		{ "random", DS_RANDOM }, { "mixed", DS_MIXED },
	};
	size_t i;

	cfg->dataset_arg = arg;
	if (!strncmp(arg, "file:", 5)) {
		cfg->dataset = DS_FILE;
		open_data_file(cfg, arg + 5);
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(arg, names[i].name)) {
			cfg->dataset = names[i].ds;
			return;
		}
	}
	usage_error("unknown data set '%s'", arg);
}

static void parse_corrupt_hook(struct config *cfg)
{
	const char *s = getenv(CORRUPT_ENV);
	unsigned long long v;

	cfg->corrupt_page = -1;
	if (!s || !*s)
		return;
	if (parse_ulong(s, 0, cfg->total_pages - 1, &v))
		usage_error("bad %s '%s' (a page number below %" PRIu64 ")",
			    CORRUPT_ENV, s, cfg->total_pages);
	cfg->corrupt_page = (int64_t)v;
}

static void parse_args(struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "mode", required_argument, NULL, 'm' },
		{ "rewrite", no_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },
		{ "random-pct", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_arg = "mixed";
	unsigned long long seed;
	uint64_t region_pages;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:d:m:p:rw:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data_arg = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "cyclic"))
				cfg->mode = MODE_CYCLIC;
			else if (!strcmp(optarg, "once"))
				cfg->mode = MODE_ONCE;
			else
				usage_error("unknown mode '%s'", optarg);
			break;
		case 'p':
			cfg->random_pct = parse_count("random percentage", optarg, 0, 100);
			break;
		case 'r':
			cfg->rewrite = 1;
			break;
		case 'w':
			cfg->workers = parse_count("worker count", optarg, 1, MAX_WORKERS);
			break;
		case 's':
			if (parse_ulong(optarg, 0, UINT64_MAX, &seed))
				usage_error("bad seed '%s'", optarg);
			cfg->seed = seed;
			break;
		case 'h':
			print_help();
			exit(RZ_EXIT_OK);
		case ':':
			usage_error("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("missing MIB");
	if (argc - optind > 2)
		usage_error("unexpected argument '%s'", argv[optind + 2]);
	cfg->mib = parse_count("MIB", argv[optind], 1, MAX_MIB);
	if (argc - optind == 2)
		cfg->passes = parse_count("PASSES", argv[optind + 1], 1, MAX_PASSES);
	if (cfg->rewrite && cfg->mode != MODE_CYCLIC)
		usage_error("--rewrite goes with --mode cyclic");

	cfg->total_pages = ((uint64_t)cfg->mib << 20) / cfg->page_size;
	if (cfg->workers > cfg->total_pages)
		usage_error("%lu workers for %" PRIu64 " pages", cfg->workers,
			    cfg->total_pages);
	region_pages = (cfg->total_pages + cfg->workers - 1) / cfg->workers;
	if (region_pages > SIZE_MAX / 2 / cfg->page_size)
		usage_error("%lu MiB per worker does not fit this machine's address space",
			    cfg->mib / cfg->workers);
	parse_dataset(cfg, data_arg);
	parse_corrupt_hook(cfg);
}

/* ---- data generation ---- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t next_random(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

/* The seed of one page's content in one generation. */
static uint64_t page_seed(const struct config *cfg, uint64_t page, uint64_t gen)
{
	return mix64(cfg->seed ^ mix64(page * 0x2545f4914f6cdd1dULL + gen));
}

static void fill_same(unsigned char *buf, size_t len, uint64_t seed)
{
	unsigned long word = (unsigned long)mix64(seed);
	size_t off;

	if (!word)
		word = 1;
	for (off = 0; off < len; off += sizeof(word))
		memcpy(buf + off, &word, sizeof(word));
}

static void fill_random(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t state = seed;
	size_t off;

	for (off = 0; off < len; off += sizeof(uint64_t)) {
		uint64_t v = next_random(&state);

		memcpy(buf + off, &v, sizeof(v));
	}
}

/* Common words, most frequent first; text pages draw from them. */
static const char *const words[] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as",
	"was", "with", "be", "by", "on", "not", "he", "this", "are", "or",
	"his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
	"were", "their", "one", "all", "we", "can", "her", "has", "there", "been",
	"if", "more", "when", "will", "would", "who", "so", "no", "memory", "page",
	"swap", "device", "kernel", "block", "system", "data", "time", "process",
	"file", "write", "read", "value", "number", "state", "first", "after",
	"other", "some", "into", "only", "than", "them", "could", "these", "two",
	"may", "then", "do", "any", "like", "my", "now", "over", "such", "our",
	"man", "me", "even", "most", "made", "also", "did", "many", "before",
	"must", "through", "back", "years", "where", "much", "your", "way", "well",
	"down", "should", "because", "each", "just", "those", "people", "how",
	"too", "little", "good", "world", "very", "still", "own", "see", "men",
	"work", "long", "get", "here", "between", "both", "life", "being", "under",
	"never", "day", "same", "another", "know", "while", "last", "might", "us",
	"great", "old", "year", "off", "come", "since", "against", "go", "came",
	"right", "used", "take", "three", "small", "large", "compressed", "buffer",
	"request", "driver", "module", "table", "queue", "thread", "signal",
	"network", "packet", "address", "pointer", "function", "return", "error",
	"result", "option", "config", "limit", "size", "count", "index", "entry",
	"region", "scan", "pass", "check", "test", "board", "flash", "storage",
	"backing", "forward", "allocate", "release", "object", "header", "list",
	"free", "total", "ratio", "budget", "reboot", "console", "serial",
	"image", "build", "package", "install", "update", "version",
	"morning", "evening", "river", "mountain", "garden", "window", "letter",
	"question", "answer", "reason", "example", "history", "country", "city",
	"water", "light", "house", "school", "family", "friend", "story", "music",
};

#define NWORDS (sizeof(words) / sizeof(words[0]))
/* Of 16 draws: one number, phrases below this, single words from it up. */
#define TEXT_PHRASE_KINDS 12

static size_t append(unsigned char *buf, size_t pos, size_t len, const char *s)
{
	while (*s && pos < len)
		buf[pos++] = (unsigned char)*s++;
	return pos;
}

static size_t append_number(unsigned char *buf, size_t pos, size_t len,
			    unsigned value)
{
	char digits[12];
	int n = 0;

	do {
		digits[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	while (n && pos < len)
		buf[pos++] = (unsigned char)digits[--n];
	return pos;
}

#define NPHRASES 64
#define PHRASE_MAX 48

/*
 * Fixed phrases of two to four words, the same in every run: text repeats
 * phrases, not only single words, and that is what gives it its ratio.
 */
static const char *phrase(unsigned i)
{
	static char table[NPHRASES][PHRASE_MAX];
	static int built;

	if (!built) {
		uint64_t state = 0x7068726173657321ULL;
		unsigned p, k;

		for (p = 0; p < NPHRASES; p++) {
			unsigned nw = 2 + (unsigned)(next_random(&state) % 3);
			size_t pos = 0;

			for (k = 0; k < nw; k++) {
				const char *w = words[next_random(&state) % NWORDS];

				if (pos + strlen(w) + 2 > PHRASE_MAX)
					break;
				if (k)
					table[p][pos++] = ' ';
				memcpy(table[p] + pos, w, strlen(w));
				pos += strlen(w);
			}
			table[p][pos] = '\0';
		}
		built = 1;
	}
	return table[i % NPHRASES];
}

/*
 * Sentences of common phrases and words with a bias to the frequent ones,
 * some numbers and line breaks: about 2:1 under LZ4, like plain text or logs.
 */
static void fill_text(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t state = seed;
	size_t pos = 0;
	unsigned in_sentence = 0, sentence_len = 0;

	while (pos < len) {
		uint64_t r = next_random(&state);
		size_t a = (size_t)(r % NWORDS), b = (size_t)((r >> 16) % NWORDS);
		unsigned kind = (unsigned)((r >> 32) % 16);
		const char *item;

		if (in_sentence == 0)
			sentence_len = 3 + (unsigned)((r >> 36) % 6);
		if (kind == 0) {
			pos = append_number(buf, pos, len, (unsigned)((r >> 40) % 100000));
		} else {
			item = kind < TEXT_PHRASE_KINDS ? phrase((unsigned)(r >> 44))
							: words[a < b ? a : b];
			if (in_sentence == 0 && pos < len) {
				buf[pos++] = (unsigned char)(item[0] - 'a' + 'A');
				item++;
			}
			pos = append(buf, pos, len, item);
		}
		if (++in_sentence >= sentence_len) {
			in_sentence = 0;
			pos = append(buf, pos, len, (r >> 60) < 4 ? ".\n" : ". ");
		} else {
			pos = append(buf, pos, len, (r >> 58) == 0 ? ", " : " ");
		}
	}
}

static enum dataset mixed_pick(uint64_t seed)
{
	unsigned pct = (unsigned)(mix64(seed ^ 0x6d69786564ULL) % 100);

	if (pct < 10)
		return DS_ZERO;
	if (pct < 25)
		return DS_SAME;
	if (pct < 75)
		return DS_TEXT;
	return DS_RANDOM;
}

static int fill_from_file(const struct config *cfg, unsigned char *buf,
			  uint64_t page, uint64_t gen)
{
	uint64_t fpage = (page + gen) % cfg->file_pages;
	size_t done = 0;

	while (done < cfg->page_size) {
		ssize_t n = pread(cfg->file_fd, buf + done, cfg->page_size - done,
				  (off_t)(fpage * cfg->page_size + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset(buf + done, 0, cfg->page_size - done);
	return 0;
}

/* Writes the content of page `page`, generation `gen`, into buf. */
static int generate_page(const struct config *cfg, unsigned char *buf,
			 uint64_t page, uint64_t gen)
{
	uint64_t seed = page_seed(cfg, page, gen);
	enum dataset ds = cfg->dataset;

	if (ds == DS_MIXED)
		ds = mixed_pick(seed);
	if (cfg->random_pct &&
	    mix64(seed ^ 0x72616e646f6dULL) % 100 < cfg->random_pct)
		ds = DS_RANDOM;
	switch (ds) {
	case DS_ZERO:
		memset(buf, 0, cfg->page_size);
		return 0;
	case DS_SAME:
		fill_same(buf, cfg->page_size, seed);
		return 0;
	case DS_TEXT:
		fill_text(buf, cfg->page_size, seed);
		return 0;
	case DS_RANDOM:
		fill_random(buf, cfg->page_size, seed);
		return 0;
	case DS_FILE:
		return fill_from_file(cfg, buf, page, gen);
	case DS_MIXED:
		break;
	}
	return -1;
}

/*
 * Four independent multiply-xor lanes: each step is a bijection of the lane,
 * so a change to any single word always changes the result.
 */
static uint64_t page_checksum(const unsigned char *p, size_t len)
{
	const uint64_t k = 0x9fb21c651e98df25ULL;
	uint64_t a = 0x243f6a8885a308d3ULL, b = 0x13198a2e03707344ULL;
	uint64_t c = 0xa4093822299f31d0ULL, d = 0x082efa98ec4e6c89ULL;
	size_t off;

	for (off = 0; off + 32 <= len; off += 32) {
		uint64_t w[4];

		memcpy(w, p + off, sizeof(w));
		a = (a ^ w[0]) * k;
		b = (b ^ w[1]) * k;
		c = (c ^ w[2]) * k;
		d = (d ^ w[3]) * k;
	}
	a = (a ^ (a >> 29)) * k;
	a = (a ^ b) * k;
	a = (a ^ c) * k;
	a = (a ^ d) * k;
	return mix64(a);
}

/* ---- one worker ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The longest a single page took (fill, check or rewrite): that is where a
 * fault waits for swap-in, or for reclaim to swap other pages out.
 */
static void note_page_time(struct worker *w, uint64_t start)
{
	uint64_t took = now_ns() - start;

	if (took > w->res.worst_page_ns)
		w->res.worst_page_ns = took;
}

static void report_mismatch(struct worker *w, uint64_t i, unsigned long pass,
			    uint64_t got)
{
	uint64_t page = w->first_page + i;

	if (w->res.mismatches == 0)
		w->res.first_bad_page = (int64_t)page;
	w->res.mismatches++;
	if (w->res.mismatches <= MAX_REPORTED)
		fprintf(stderr, "rzscan: mismatch at page %" PRIu64
			" (worker %lu, pass %lu): expected checksum %016" PRIx64
			", read %016" PRIx64 "\n", page, w->id, pass + 1,
			w->expected[i], got);
	else if (w->res.mismatches == MAX_REPORTED + 1)
		fprintf(stderr, "rzscan: worker %lu: further mismatches not shown\n",
			w->id);
}

static int write_page(const struct config *cfg, struct worker *w, uint64_t i,
		      uint64_t gen)
{
	if (generate_page(cfg, w->scratch, w->first_page + i, gen)) {
		fprintf(stderr, "rzscan: reading data file: %s\n", strerror(errno));
		return -1;
	}
	w->expected[i] = page_checksum(w->scratch, cfg->page_size);
	memcpy(w->region + i * cfg->page_size, w->scratch, cfg->page_size);
	return 0;
}

static int fill_region(const struct config *cfg, struct worker *w, uint64_t gen)
{
	uint64_t i;

	for (i = 0; i < w->npages; i++) {
		uint64_t start = now_ns();

		if (write_page(cfg, w, i, gen))
			return -1;
		note_page_time(w, start);
	}
	if (gen == 0 && cfg->corrupt_page >= 0 &&
	    (uint64_t)cfg->corrupt_page >= w->first_page &&
	    (uint64_t)cfg->corrupt_page < w->first_page + w->npages) {
		uint64_t off = ((uint64_t)cfg->corrupt_page - w->first_page) * cfg->page_size;

		w->region[off + cfg->page_size / 2] ^= 0x5a;
	}
	return 0;
}

static void check_page(const struct config *cfg, struct worker *w, uint64_t i,
		       unsigned long pass)
{
	uint64_t got = page_checksum(w->region + i * cfg->page_size, cfg->page_size);

	w->res.pages_scanned++;
	if (got != w->expected[i])
		report_mismatch(w, i, pass, got);
}

static int scan_cyclic(const struct config *cfg, struct worker *w)
{
	unsigned long pass;
	uint64_t i;

	if (fill_region(cfg, w, 0))
		return -1;
	for (pass = 0; pass < cfg->passes; pass++) {
		for (i = 0; i < w->npages; i++) {
			uint64_t start = now_ns();

			check_page(cfg, w, i, pass);
			if (cfg->rewrite && write_page(cfg, w, i, pass + 1))
				return -1;
			note_page_time(w, start);
		}
	}
	return 0;
}

static int scan_once(const struct config *cfg, struct worker *w)
{
	unsigned long pass;
	uint64_t i;

	for (pass = 0; pass < cfg->passes; pass++) {
		if (fill_region(cfg, w, pass))
			return -1;
		for (i = 0; i < w->npages; i++) {
			uint64_t t0 = now_ns();

			check_page(cfg, w, i, pass);
			note_page_time(w, t0);
			if ((i + 1) % DISCARD_BATCH == 0 || i + 1 == w->npages) {
				uint64_t start = i - i % DISCARD_BATCH;

				madvise(w->region + start * cfg->page_size,
					(size_t)(i + 1 - start) * cfg->page_size,
					MADV_DONTNEED);
			}
		}
	}
	return 0;
}

static int run_worker(const struct config *cfg, struct worker *w)
{
	size_t bytes = (size_t)w->npages * cfg->page_size;

	w->res.first_bad_page = -1;
	w->region = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	w->expected = calloc((size_t)w->npages, sizeof(*w->expected));
	w->scratch = malloc(cfg->page_size);
	if (w->region == MAP_FAILED || !w->expected || !w->scratch) {
		fprintf(stderr, "rzscan: worker %lu: cannot allocate %zu bytes: %s\n",
			w->id, bytes, strerror(errno));
		return -1;
	}
#ifdef MADV_NOHUGEPAGE
	/* Swap works on base pages; keep the region out of huge pages. */
	madvise(w->region, bytes, MADV_NOHUGEPAGE);
#endif
	if (cfg->mode == MODE_CYCLIC)
		return scan_cyclic(cfg, w);
	return scan_once(cfg, w);
}

static void child_main(const struct config *cfg, struct worker *w, int fd,
		       pid_t parent)
{
	const unsigned char *p;
	size_t left;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(RZ_EXIT_RUNTIME);
	w->res.failed = run_worker(cfg, w) ? 1 : 0;
	p = (const unsigned char *)&w->res;
	left = sizeof(w->res);
	while (left) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(RZ_EXIT_RUNTIME);
		p += n;
		left -= (size_t)n;
	}
	if (w->res.failed)
		_exit(RZ_EXIT_RUNTIME);
	_exit(w->res.mismatches ? RZ_EXIT_MISMATCH : RZ_EXIT_OK);
}

/* ---- parent: workers, totals, report ---- */

struct vmstat_swap {
	int valid;
	uint64_t pswpin, pswpout;
};

static struct vmstat_swap read_vmstat(void)
{
	struct vmstat_swap v = { 0, 0, 0 };
	FILE *f = fopen("/proc/vmstat", "r");
	char name[64];
	unsigned long long val;
	int seen = 0;

	if (!f)
		return v;
	while (fscanf(f, "%63s %llu", name, &val) == 2) {
		if (!strcmp(name, "pswpin")) {
			v.pswpin = val;
			seen |= 1;
		} else if (!strcmp(name, "pswpout")) {
			v.pswpout = val;
			seen |= 2;
		}
	}
	fclose(f);
	v.valid = seen == 3;
	return v;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double timeval_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int read_result(int fd, struct worker_result *res)
{
	unsigned char *p = (unsigned char *)res;
	size_t left = sizeof(*res);

	while (left) {
		ssize_t n = read(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_delta(const char *name, int valid, uint64_t before, uint64_t after)
{
	if (valid)
		printf(",\"%s\":%" PRIu64, name, after - before);
	else
		printf(",\"%s\":null", name);
}

struct totals {
	uint64_t pages_scanned;
	uint64_t mismatches;
	int64_t first_bad_page;
	uint64_t worst_page_ns;
	unsigned long failed_workers;
};

static void print_report(const struct config *cfg, const struct totals *t,
			 double elapsed, struct vmstat_swap before,
			 struct vmstat_swap after)
{
	struct rusage ru;
	int valid = before.valid && after.valid;

	memset(&ru, 0, sizeof(ru));
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("{\"dataset\":");
	print_json_string(cfg->dataset_arg);
	printf(",\"random_pct\":%lu", cfg->random_pct);
	printf(",\"mode\":\"%s\",\"rewrite\":%s,\"mib\":%lu,\"passes\":%lu"
	       ",\"workers\":%lu,\"seed\":%" PRIu64 ",\"page_size\":%zu,\"pages\":%" PRIu64
	       ",\"pages_scanned\":%" PRIu64 ",\"mismatches\":%" PRIu64,
	       cfg->mode == MODE_CYCLIC ? "cyclic" : "once",
	       cfg->rewrite ? "true" : "false", cfg->mib, cfg->passes, cfg->workers,
	       cfg->seed, cfg->page_size, cfg->total_pages, t->pages_scanned,
	       t->mismatches);
	if (t->first_bad_page >= 0)
		printf(",\"first_mismatch_page\":%" PRId64, t->first_bad_page);
	else
		printf(",\"first_mismatch_page\":null");
	printf(",\"failed_workers\":%lu,\"elapsed_s\":%.6f,\"user_s\":%.6f,\"sys_s\":%.6f",
	       t->failed_workers, elapsed, timeval_seconds(ru.ru_utime),
	       timeval_seconds(ru.ru_stime));
	print_delta("pswpin", valid, before.pswpin, after.pswpin);
	print_delta("pswpout", valid, before.pswpout, after.pswpout);
	printf(",\"worst_page_ms\":%.3f", (double)t->worst_page_ns / 1e6);
	printf("}\n");
	fflush(stdout);
}

static void collect(struct totals *t, unsigned long id, pid_t pid, int fd)
{
	struct worker_result res;
	int got = read_result(fd, &res) == 0;
	int status;

	close(fd);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (got) {
		t->pages_scanned += res.pages_scanned;
		t->mismatches += res.mismatches;
		if (res.worst_page_ns > t->worst_page_ns)
			t->worst_page_ns = res.worst_page_ns;
		if (res.mismatches && (t->first_bad_page < 0 ||
				       res.first_bad_page < t->first_bad_page))
			t->first_bad_page = res.first_bad_page;
	}
	if (status != -1 && WIFSIGNALED(status)) {
		fprintf(stderr, "rzscan: worker %lu killed by signal %d\n", id,
			WTERMSIG(status));
		t->failed_workers++;
	} else if (!got || res.failed || status == -1 || !WIFEXITED(status) ||
		   (WEXITSTATUS(status) != RZ_EXIT_OK &&
		    WEXITSTATUS(status) != RZ_EXIT_MISMATCH)) {
		fprintf(stderr, "rzscan: worker %lu failed\n", id);
		t->failed_workers++;
	}
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.dataset = DS_MIXED, .file_fd = -1, .mode = MODE_CYCLIC,
		.passes = 1, .workers = 1, .seed = 1,
	};
	struct totals t = { 0, 0, -1, 0, 0 };
	struct vmstat_swap before, after;
	pid_t *pids;
	int *fds;
	pid_t self = getpid();
	uint64_t next_page = 0;
	unsigned long i;
	double start;
	long ps = sysconf(_SC_PAGESIZE);

	cfg.page_size = ps > 0 ? (size_t)ps : 4096;
	parse_args(&cfg, argc, argv);

	pids = calloc(cfg.workers, sizeof(*pids));
	fds = calloc(cfg.workers, sizeof(*fds));
	if (!pids || !fds) {
		fprintf(stderr, "rzscan: out of memory\n");
		return RZ_EXIT_RUNTIME;
	}
	fflush(stdout);
	before = read_vmstat();
	start = now_seconds();
	for (i = 0; i < cfg.workers; i++) {
		struct worker w;
		int pfd[2];

		memset(&w, 0, sizeof(w));
		w.id = i;
		w.first_page = next_page;
		w.npages = cfg.total_pages / cfg.workers +
			   (i < cfg.total_pages % cfg.workers ? 1 : 0);
		next_page += w.npages;
		if (pipe(pfd)) {
			fprintf(stderr, "rzscan: pipe: %s\n", strerror(errno));
			t.failed_workers += cfg.workers - i;
			break;
		}
		pids[i] = fork();
		if (pids[i] < 0) {
			fprintf(stderr, "rzscan: fork: %s\n", strerror(errno));
			close(pfd[0]);
			close(pfd[1]);
			t.failed_workers += cfg.workers - i;
			break;
		}
		if (pids[i] == 0) {
			close(pfd[0]);
			child_main(&cfg, &w, pfd[1], self);
		}
		close(pfd[1]);
		fds[i] = pfd[0];
	}
	for (unsigned long j = 0; j < i; j++)
		collect(&t, j, pids[j], fds[j]);
	after = read_vmstat();
	print_report(&cfg, &t, now_seconds() - start, before, after);
	if (t.mismatches)
		return RZ_EXIT_MISMATCH;
	return t.failed_workers ? RZ_EXIT_RUNTIME : RZ_EXIT_OK;
}
