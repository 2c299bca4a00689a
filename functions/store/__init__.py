"""State: DynamoStore (PynamoDB on DynamoDB) and InMemoryStore, its honest fake.

Import from the modules (functions.store.dynamo, .memory, .tables) so that using the
fake never imports PynamoDB.
"""
