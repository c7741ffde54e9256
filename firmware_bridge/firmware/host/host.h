/* The Linux host build: the core against a serial device path, inputs on stdin,
 * output states on stdout. */
#ifndef HOST_H
#define HOST_H

/* The open serial device, or -1 while it is closed. */
extern int host_serial_fd;

#endif
