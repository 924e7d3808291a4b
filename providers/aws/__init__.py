"""The AWS driver: boto3 through an assumed role, translating botocore errors into :mod:`providers.errors`."""
