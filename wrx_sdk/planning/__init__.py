"""Plan the elastic pipeline: a cost model that simulates the loader, its calibration on
the device's real pipeline, and two planners (STI's and WRX's) that fill a latency target
and a memory budget with the most accurate submodel."""
