/* This process's host identity (host_id.h): a hash of what decides whether two processes can map
 * the same memory:
 *   - the kernel's boot id (/proc/sys/kernel/random/boot_id): one running kernel. Two machines,
 *     or one machine before and after a reboot, never share memory; containers on one kernel
 *     see the same boot id, hence the two parts below;
 *   - the IPC namespace (/proc/self/ns/ipc: device and inode): System V segments and POSIX
 *     message queues are visible only inside one IPC namespace;
 *   - the filesystem behind /dev/shm (its st_dev): shm_open names are files there, so processes
 *     with different /dev/shm mounts (a container's private tmpfs, another mount namespace)
 *     cannot open each other's segments even on one kernel.
 * If the boot id cannot be read, the id is random: this process then shares a host with nobody,
 * which is safe (TCP still reaches everyone), whereas a guess could make two hosts look like one. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bootstrap/auth.h"
#include "bootstrap/host_id.h"

static uint64_t host_id;
static pthread_once_t host_id_once = PTHREAD_ONCE_INIT;

static void compute(void) {
  char boot_id[64] = "";
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  bool known = f && fgets(boot_id, sizeof boot_id, f) != NULL && boot_id[0] != '\0';
  if (f) fclose(f);
  struct stat ipc = {0}, shm = {0};
  (void)stat("/proc/self/ns/ipc", &ipc); /* absent (old kernel, no /proc): zeros, same for all */
  (void)stat("/dev/shm", &shm);
  uint64_t parts[3] = {(uint64_t)ipc.st_dev, (uint64_t)ipc.st_ino, (uint64_t)shm.st_dev};
  uint8_t out[8];
  crypto_generichash_state st;
  if (!known || sodium_init() < 0 || crypto_generichash_init(&st, NULL, 0, sizeof out) != 0) {
    host_id = weft__auth_random_u64();
  } else {
    crypto_generichash_update(&st, (const uint8_t *)boot_id, strlen(boot_id));
    crypto_generichash_update(&st, (const uint8_t *)parts, sizeof parts);
    crypto_generichash_final(&st, out, sizeof out);
    memcpy(&host_id, out, sizeof host_id);
  }
  if (host_id == 0) host_id = 1;
}

uint64_t weft__host_id(void) {
  pthread_once(&host_id_once, compute);
  return host_id;
}
