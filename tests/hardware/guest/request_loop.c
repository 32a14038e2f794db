/* The C floor of the request benchmark: the same three requests in a tight
 * loop on fds the Python side opened and passed down.
 * usage: request_loop DEVICE_FD CONTAINER_FD ITERATIONS
 * prints: region_info_ns irq_info_ns map_unmap_ns */
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	int dev = atoi(argv[1]), container = atoi(argv[2]), n = atoi(argv[3]);
	struct vfio_region_info region = { .argsz = sizeof(region), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_MSI_IRQ_INDEX };
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (unsigned long)mem, .iova = 0x200000, .size = 4096 };
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap), .iova = 0x200000, .size = 4096 };
	double t0 = now();
	for (int i = 0; i < n; i++)
		if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &region))
			return 1;
	double t1 = now();
	for (int i = 0; i < n; i++)
		if (ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &irq))
			return 1;
	double t2 = now();
	for (int i = 0; i < n; i++) {
		if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
			return 1;
		unmap.size = 4096;
		if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap))
			return 1;
	}
	double t3 = now();
	printf("%.0f %.0f %.0f\n", (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n);
	return 0;
}
