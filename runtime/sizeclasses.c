/*
 * sizeclasses.c - the size classes of small objects.
 *
 * The table is built so that no object of 57 bytes or more wastes over
 * 12.5 % of the memory it takes, counting its share of the span's unused
 * tail: each class is at most 8/7 of the one below plus one, and each span
 * size (1 to 11 pages) is the smallest whose tail keeps that bound.  Below
 * 64 bytes the classes step by 8 bytes.  Every class of 64 bytes or more
 * is a multiple of 16 except 72, 88 and 104, which follow a multiple of 16
 * by 8 bytes, so a size that is a multiple of 16 always gets a class that
 * is one: such objects stay 16-byte aligned.
 */
#include "malloc.h"
#include "print.h"

const struct sizeclass class_info[NUM_CLASSES] = {
    {0, 0, 0},   /* class 0: large objects, their own pages */
    {8, 1, 1024},   /*  1: tail 0 */
    {16, 1, 512},   /*  2: tail 0 */
    {24, 1, 341},   /*  3: tail 8 */
    {32, 1, 256},   /*  4: tail 0 */
    {40, 1, 204},   /*  5: tail 32 */
    {48, 1, 170},   /*  6: tail 32 */
    {56, 1, 146},   /*  7: tail 16 */
    {64, 1, 128},   /*  8: tail 0 */
    {72, 1, 113},   /*  9: tail 56 */
    {80, 1, 102},   /* 10: tail 32 */
    {88, 1, 93},    /* 11: tail 8 */
    {96, 1, 85},    /* 12: tail 32 */
    {104, 1, 78},   /* 13: tail 80 */
    {112, 1, 73},   /* 14: tail 16 */
    {128, 1, 64},   /* 15: tail 0 */
    {144, 1, 56},   /* 16: tail 128 */
    {160, 1, 51},   /* 17: tail 32 */
    {176, 1, 46},   /* 18: tail 96 */
    {192, 1, 42},   /* 19: tail 128 */
    {208, 1, 39},   /* 20: tail 80 */
    {224, 1, 36},   /* 21: tail 128 */
    {256, 1, 32},   /* 22: tail 0 */
    {288, 1, 28},   /* 23: tail 128 */
    {320, 1, 25},   /* 24: tail 192 */
    {352, 1, 23},   /* 25: tail 96 */
    {384, 1, 21},   /* 26: tail 128 */
    {416, 1, 19},   /* 27: tail 288 */
    {448, 1, 18},   /* 28: tail 128 */
    {512, 1, 16},   /* 29: tail 0 */
    {576, 1, 14},   /* 30: tail 128 */
    {640, 2, 25},   /* 31: tail 384 */
    {704, 2, 23},   /* 32: tail 192 */
    {768, 2, 21},   /* 33: tail 256 */
    {832, 2, 19},   /* 34: tail 576 */
    {896, 1, 9},    /* 35: tail 128 */
    {1024, 1, 8},   /* 36: tail 0 */
    {1152, 1, 7},   /* 37: tail 128 */
    {1280, 3, 19},  /* 38: tail 256 */
    {1408, 3, 17},  /* 39: tail 640 */
    {1536, 3, 16},  /* 40: tail 0 */
    {1664, 3, 14},  /* 41: tail 1280 */
    {1792, 2, 9},   /* 42: tail 256 */
    {2048, 1, 4},   /* 43: tail 0 */
    {2304, 2, 7},   /* 44: tail 256 */
    {2560, 5, 16},  /* 45: tail 0 */
    {2816, 5, 14},  /* 46: tail 1536 */
    {3072, 3, 8},   /* 47: tail 0 */
    {3328, 3, 7},   /* 48: tail 1280 */
    {3584, 4, 9},   /* 49: tail 512 */
    {4096, 1, 2},   /* 50: tail 0 */
    {4608, 4, 7},   /* 51: tail 512 */
    {5120, 5, 8},   /* 52: tail 0 */
    {5632, 5, 7},   /* 53: tail 1536 */
    {6144, 3, 4},   /* 54: tail 0 */
    {6656, 5, 6},   /* 55: tail 1024 */
    {7168, 7, 8},   /* 56: tail 0 */
    {8192, 1, 1},   /* 57: tail 0 */
    {9216, 8, 7},   /* 58: tail 1024 */
    {10240, 5, 4},  /* 59: tail 0 */
    {11264, 7, 5},  /* 60: tail 1024 */
    {12288, 3, 2},  /* 61: tail 0 */
    {13312, 5, 3},  /* 62: tail 1024 */
    {14336, 7, 4},  /* 63: tail 0 */
    {16384, 2, 1},  /* 64: tail 0 */
    {18432, 9, 4},  /* 65: tail 0 */
    {20480, 5, 2},  /* 66: tail 0 */
    {22528, 11, 4}, /* 67: tail 0 */
    {24576, 3, 1},  /* 68: tail 0 */
    {26624, 10, 3}, /* 69: tail 2048 */
    {28672, 7, 2},  /* 70: tail 0 */
    {32768, 4, 1},  /* 71: tail 0 */
};

uint32_t class_divmul[NUM_CLASSES];
uint8_t size_to_class8[1024 / 8 + 1];
uint8_t size_to_class128[(MAX_SMALL_SIZE - 1024) / 128 + 1];

void sizeclasses_init(void)
{
    for (int c = 1; c < NUM_CLASSES; c++) {
        uint32_t size = class_info[c].size;
        class_divmul[c] = (uint32_t)((((uint64_t)1 << 32) + size - 1) / size);
        /* The reciprocal must give the exact index for every offset of
         * the span; check the slot boundaries, where it would go wrong. */
        uintptr_t spanbytes = class_info[c].npages * PAGE_SIZE;
        for (uint32_t i = 0; i < class_info[c].nobj; i++) {
            uintptr_t lo = (uintptr_t)i * size, hi = lo + size - 1;
            if (class_objindex((uint8_t)c, lo) != i || (hi < spanbytes && class_objindex((uint8_t)c, hi) != i))
                rt_throw("size class %d: reciprocal of %u is inexact", c, size);
        }
    }
    int c = 1;
    for (size_t i = 0; i <= 1024 / 8; i++) {
        size_t size = i * 8;
        while (class_info[c].size < size)
            c++;
        size_to_class8[i] = (uint8_t)c;
    }
    for (size_t i = 0; i <= (MAX_SMALL_SIZE - 1024) / 128; i++) {
        size_t size = 1024 + i * 128;
        while (class_info[c].size < size)
            c++;
        size_to_class128[i] = (uint8_t)c;
    }
}
