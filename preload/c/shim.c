/*
 * The part of librampart that Rust cannot write: the variadic execl,
 * execlp and execle. Stable Rust cannot define C-variadic functions, so
 * these collect their arguments into an argv array on the stack (as glibc's
 * own execl does) and hand it to the Rust hook bodies through function
 * pointers that the Rust constructor stores here.
 *
 * Everything here is hidden. The exported execl, execlp and execle are
 * naked Rust functions (src/linux/mod.rs) that tail-jump to these: rustc
 * only exports Rust items from a cdylib, and a bare jump leaves the
 * variadic call frame exactly as the caller built it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>

typedef int (*rampart_execv_fn)(const char *, char *const[]);
typedef int (*rampart_execve_fn)(const char *, char *const[], char *const[]);

__attribute__((visibility("hidden"))) rampart_execv_fn rampart_shim_execv;
__attribute__((visibility("hidden"))) rampart_execv_fn rampart_shim_execvp;
__attribute__((visibility("hidden"))) rampart_execve_fn rampart_shim_execve;

/* Count the arguments after `arg` up to the terminating NULL. */
#define COUNT_ARGS(last, n)                                  \
    do {                                                     \
        va_list ap_;                                         \
        va_start(ap_, last);                                 \
        while (va_arg(ap_, const char *) != NULL) (n)++;     \
        va_end(ap_);                                         \
    } while (0)

/* Declare `argv` on the stack holding `arg` and the variadic arguments
 * after it, NULL-terminated; leaves `ap` just past the terminating NULL. */
#define COLLECT_ARGV(arg, argv, ap)                          \
    size_t n_ = 1;                                           \
    if ((arg) == NULL) n_ = 0; else COUNT_ARGS(arg, n_);     \
    const char *argv[n_ + 1];                                \
    va_list ap;                                              \
    va_start(ap, arg);                                       \
    if (n_ > 0) argv[0] = (arg);                             \
    for (size_t i_ = 1; i_ < n_; i_++) argv[i_] = va_arg(ap, const char *); \
    argv[n_] = NULL;                                         \
    if (n_ > 0) (void)va_arg(ap, const char *)

__attribute__((visibility("hidden"))) int rampart_execl_impl(const char *path, const char *arg, ...) {
    COLLECT_ARGV(arg, argv, ap);
    va_end(ap);
    if (!rampart_shim_execv) { errno = ENOSYS; return -1; }
    return rampart_shim_execv(path, (char *const *)argv);
}

__attribute__((visibility("hidden"))) int rampart_execlp_impl(const char *file, const char *arg, ...) {
    COLLECT_ARGV(arg, argv, ap);
    va_end(ap);
    if (!rampart_shim_execvp) { errno = ENOSYS; return -1; }
    return rampart_shim_execvp(file, (char *const *)argv);
}

__attribute__((visibility("hidden"))) int rampart_execle_impl(const char *path, const char *arg, ...) {
    COLLECT_ARGV(arg, argv, ap);
    /* The environment follows the terminating NULL. */
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    if (!rampart_shim_execve) { errno = ENOSYS; return -1; }
    return rampart_shim_execve(path, (char *const *)argv, envp);
}
