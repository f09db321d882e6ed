/* libFuzzer target: the NIfTI reader (header, data, gzip) through a file. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/frame.h"
#include "io/nii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    nii_image img;
    int fd = memfd_create("nii", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        frame_default_limits.max_record = 1 << 26;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (nii_read(path, &img, NII_NATIVE) == 0)
            nii_free(&img);
        if (nii_read(path, &img, NII_F32) == 0)
            nii_free(&img);
    }
    close(fd);
    return 0;
}
