"""The test-support layer of tests/e2e and tests/deploy: free ports, child
processes and waiting (`processes`), the Prometheus text format
(`metrics`), SigV4 signing and boto3 clients (`aws`), and test
certificates (`certs`). pytest.ini puts tests/ on the import path, so both
suites import it as `harness`."""
