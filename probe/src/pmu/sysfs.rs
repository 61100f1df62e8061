//! PMU discovery through sysfs.
