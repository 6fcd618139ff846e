/* A test pod's process: prints "<unix ms> <content>" each time the file it watches changes, so a
   test can read from the container's log when a mounted Secret's new content reached the pod.
   Built static by test/node/build.ts. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

int main(int argc, char **argv) {
  static char last[4096], now[4096];
  if (argc != 2) {
    fprintf(stderr, "usage: file-reader FILE\n");
    return 2;
  }
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  setvbuf(stdout, NULL, _IOLBF, 0);
  last[0] = '\0';
  for (;;) {
    FILE *file = fopen(argv[1], "r");
    size_t length = 0;
    if (file) {
      length = fread(now, 1, sizeof now - 1, file);
      fclose(file);
    }
    now[length] = '\0';
    if (file && strcmp(now, last) != 0) {
      struct timeval tv;
      gettimeofday(&tv, NULL);
      printf("%lld %s\n", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, now);
      memcpy(last, now, length + 1);
    }
    usleep(100 * 1000);
  }
}
