{
  "targets": [
    {
      "target_name": "typevisor_native",
      "sources": ["typevisor_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
    }
  ]
}
