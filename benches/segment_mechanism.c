/*
 * segment_mechanism.c — the two ways a process's segment can be kept so nothing outlives it
 * (issue 11), measured side by side by benches/segment_mechanism.sh:
 *
 *   file   a file in a directory (what skull-mem does): open O_CREAT|O_EXCL|O_NOFOLLOW,
 *          fchmod, flock(LOCK_SH), fallocate the fixed part, mmap; unlink at normal exit;
 *          files of ended processes removed by the next process's stale scan.
 *   memfd  an anonymous memfd_create: fallocate, mmap; gone with its last holder; a reader
 *          opens /proc/<pid>/fd/<n> (PTRACE_MODE_READ).
 *
 * Modes (times are per iteration, in ns, on stdout as `key=value`):
 *   start file DIR ITER     create, size, map, touch, unmap, close, unlink
 *   start memfd ITER        create, size, map, touch, unmap, close
 *   scan DIR N ITER         the stale scan over N segment files of live holders (each
 *                           locked by this process through its own open file)
 *   access                  can a reader open a holder's /proc/<pid>/fd/<n>: as the same
 *                           user, and as uid 65534 (when run as root)
 *   full DIR                on a full filesystem DIR: does a file get its fixed part, does
 *                           a memfd
 *   discover ITER           finding segments: readdir of /proc/<pid>/fd of every process
 *                           and readlink of each (what a memfd `ps` must do), against one
 *                           readdir of a segment directory
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The fixed part of a segment today (crates/core: FIXED_FILE_BYTES, 156 KiB). */
#define FIXED (156 * 1024)

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void map_touch(int fd) {
    char *map = mmap(NULL, FIXED, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { perror("mmap"); exit(1); }
    map[0] = 1;
    munmap(map, FIXED);
}

static int make_file(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    fchmod(fd, 0600);
    flock(fd, LOCK_SH | LOCK_NB);
    if (fallocate(fd, 0, 0, FIXED) != 0) {
        int error = errno;
        close(fd);
        unlink(path);
        return -error;
    }
    return fd;
}

static int make_memfd(void) {
    int fd = memfd_create("skull-mem", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    if (fallocate(fd, 0, 0, FIXED) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

static void start(int argc, char **argv) {
    int file = strcmp(argv[2], "file") == 0;
    long iter = atol(argv[file ? 4 : 3]);
    char path[4096];
    if (file) snprintf(path, sizeof path, "%s/skull-mem-%u-%d", argv[3], getuid(), getpid());
    long long begin = now_ns();
    for (long i = 0; i < iter; i++) {
        int fd = file ? make_file(path) : make_memfd();
        if (fd < 0) { fprintf(stderr, "create: %s\n", strerror(-fd)); exit(1); }
        map_touch(fd);
        close(fd);
        if (file) unlink(path);
    }
    printf("start_%s_ns=%lld\n", argv[2], (now_ns() - begin) / iter);
    (void)argc;
}

/* The stale scan of crates/core/src/segment/stale.rs, file by file. */
static void stale_scan(const char *dir) {
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(dup(dir_fd));
    struct dirent *entry;
    while ((entry = readdir(d))) {
        unsigned uid, pid;
        if (sscanf(entry->d_name, "skull-mem-%u-%u", &uid, &pid) != 2 || uid != getuid()) continue;
        int fd = openat(dir_fd, entry->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat opened, named;
        int stale = fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
                    kill((pid_t)pid, 0) != 0 && errno == ESRCH &&
                    fstatat(dir_fd, entry->d_name, &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_ino == opened.st_ino;
        if (stale) unlinkat(dir_fd, entry->d_name, 0);
        close(fd);
    }
    closedir(d);
    close(dir_fd);
}

static void scan(char **argv) {
    const char *dir = argv[2];
    long n = atol(argv[3]), iter = atol(argv[4]);
    struct rlimit limit = {n + 64, n + 64};
    if (n + 64 > 1024 && setrlimit(RLIMIT_NOFILE, &limit) != 0) { perror("setrlimit"); exit(1); }
    char path[4096];
    /* Files of live holders: pids that exist (ours), each locked through its own open. */
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/skull-mem-%u-%ld", dir, getuid(), 4000000 + i);
        int fd = make_file(path);
        if (fd < 0) { fprintf(stderr, "scan setup: %s\n", strerror(-fd)); exit(1); }
    }
    long long begin = now_ns();
    for (long i = 0; i < iter; i++) stale_scan(dir);
    printf("scan_%ld_ns=%lld\n", n, (now_ns() - begin) / iter);
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/skull-mem-%u-%ld", dir, getuid(), 4000000 + i);
        unlink(path);
    }
}

/* Can a reader running as `uid` (-1: unchanged) open `path`? Prints the outcome. */
static void try_open(const char *what, const char *path, int uid) {
    pid_t child = fork();
    if (child == 0) {
        if (uid >= 0 && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(2);
        int fd = open(path, O_RDONLY);
        printf("%s=%s\n", what, fd >= 0 ? "ok" : strerror(errno));
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, NULL, 0);
}

static void access_check(void) {
    int fd = make_memfd();
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", getpid(), fd);
    try_open("memfd_open_same_user", path, -1);
    if (getuid() == 0) try_open("memfd_open_other_user", path, 65534);
    close(fd);
}

static void full(char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/skull-mem-%u-%d", argv[2], getuid(), getpid());
    int fd = make_file(path);
    printf("full_file=%s\n", fd >= 0 ? "ok" : strerror(-fd));
    if (fd >= 0) { close(fd); unlink(path); }
    fd = make_memfd();
    printf("full_memfd=%s\n", fd >= 0 ? "ok" : strerror(-fd));
    if (fd >= 0) { map_touch(fd); close(fd); }
}

static void discover(char **argv) {
    long iter = atol(argv[2]);
    long processes = 0, links = 0;
    long long begin = now_ns();
    for (long i = 0; i < iter; i++) {
        processes = links = 0;
        DIR *proc = opendir("/proc");
        struct dirent *p;
        while ((p = readdir(proc))) {
            if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
            processes++;
            char fds[300];
            snprintf(fds, sizeof fds, "/proc/%s/fd", p->d_name);
            DIR *d = opendir(fds);
            if (!d) continue;
            struct dirent *f;
            while ((f = readdir(d))) {
                char link[600], target[256];
                if (f->d_name[0] == '.') continue;
                snprintf(link, sizeof link, "%s/%s", fds, f->d_name);
                if (readlink(link, target, sizeof target) > 0) links++;
            }
            closedir(d);
        }
        closedir(proc);
    }
    printf("discover_memfd_ns=%lld\nprocesses=%ld\nfd_links=%ld\n", (now_ns() - begin) / iter, processes, links);
    begin = now_ns();
    for (long i = 0; i < iter; i++) {
        DIR *d = opendir("/dev/shm");
        while (readdir(d)) {}
        closedir(d);
    }
    printf("discover_dir_ns=%lld\n", (now_ns() - begin) / iter);
}

int main(int argc, char **argv) {
    if (argc > 3 && strcmp(argv[1], "start") == 0) start(argc, argv);
    else if (argc > 4 && strcmp(argv[1], "scan") == 0) scan(argv);
    else if (argc > 1 && strcmp(argv[1], "access") == 0) access_check();
    else if (argc > 2 && strcmp(argv[1], "full") == 0) full(argv);
    else if (argc > 2 && strcmp(argv[1], "discover") == 0) discover(argv);
    else { fprintf(stderr, "usage: see the comment at the top of segment_mechanism.c\n"); return 2; }
    return 0;
}
