/* file.c - whole-file reads, atomic writes, directories and clocks. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int dq_read_file(const char *path, dq_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dq_set_error("cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        st.st_size = 0; /* only a size hint: the read loop finds the end */
    } else if (S_ISDIR(st.st_mode)) {
        close(fd);
        dq_set_error("cannot read '%s': is a directory", path);
        return -1;
    }
    if (st.st_size > 0)
        dq_buf_reserve(out, (size_t)st.st_size);
    for (;;) {
        dq_buf_reserve(out, 65536);
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            dq_set_error("cannot read '%s': %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        out->len += (size_t)r;
    }
    out->data[out->len] = '\0';
    close(fd);
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *dir = dq_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
    dq_buf tmp = DQ_BUF_INIT;
    dq_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        dq_set_error("cannot write '%s': %s", tmp.data, strerror(errno));
        dq_buf_free(&tmp);
        return -1;
    }
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            dq_set_error("cannot write '%s': %s", tmp.data, strerror(errno));
            close(fd);
            unlink(tmp.data);
            dq_buf_free(&tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp.data, path) < 0) {
        dq_set_error("cannot write '%s': %s", path, strerror(errno));
        unlink(tmp.data);
        dq_buf_free(&tmp);
        return -1;
    }
    dq_buf_free(&tmp);
    fsync_dir_of(path);
    return 0;
}

int dq_write_file_atomic(const char *path, const void *data, size_t n)
{
    return write_atomic(path, data, n, 0644);
}

int dq_write_file_private(const char *path, const void *data, size_t n)
{
    return write_atomic(path, data, n, 0600);
}

int dq_mkdirs(const char *path)
{
    char *p = dq_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            dq_set_error("cannot create '%s': %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        dq_set_error("cannot create '%s': %s", p, strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

double dq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
