/* Replays inputs through a fuzz target without libFuzzer, so the seed corpora and the regression
 * inputs run under every compiler as ordinary tests (meson test --suite fuzz).
 *
 * Usage: fuzz_X PATH...  where each PATH is a file or a directory (its regular files are run in
 * name order; names starting with '.' are skipped). A directory that does not exist is skipped:
 * regressions/<target>/ appears only once something was found. Exit 0 if every input ran (a
 * failing input aborts the process), 1 on a usage or I/O error, or if no input was run at all. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL) abort();
  for (;;) {
    if (len == cap) {
      cap *= 2;
      if ((buf = realloc(buf, cap)) == NULL) abort();
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0) break;
    len += n;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "%s: read error\n", path);
    free(buf);
    return -1;
  }
  /* An exact-size copy, as libFuzzer gives, so over-reads are caught under ASan. */
  uint8_t *exact = malloc(len ? len : 1);
  if (exact == NULL) abort();
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (d == NULL) return errno == ENOENT ? 0 : -1;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      if ((names = realloc(names, cap * sizeof *names)) == NULL) abort();
    }
    if ((names[n++] = strdup(e->d_name)) == NULL) abort();
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(path) != 0) rc = -1;
      else (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int count = 0, rc = 0;
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      if (errno != ENOENT) rc = 1;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (run_dir(argv[i], &count) != 0) rc = 1;
    } else if (run_file(argv[i]) != 0) {
      rc = 1;
    } else {
      count++;
    }
  }
  printf("%s: %d inputs ran\n", argv[0], count);
  if (count == 0) rc = 1;
  return rc;
}
