"""Write-once object stores: local folder and S3."""
